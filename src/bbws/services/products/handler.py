"""The products Lambda entry point; reads the environment (get_settings) when imported."""

from bbws.services.app import build_handler
from bbws.services.products.api import create_app

handler = build_handler(create_app())
