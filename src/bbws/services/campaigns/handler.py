"""The campaigns Lambda entry point: the environment is read here, once per cold start."""

from bbws.services.app import build_handler
from bbws.services.campaigns.api import create_app

handler = build_handler(create_app())
