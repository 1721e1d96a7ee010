"""The orders API's Lambda entry point; settings are read from the environment at import."""

from bbws.services.app import build_handler
from bbws.services.orders.api import create_app

handler = build_handler(create_app())
