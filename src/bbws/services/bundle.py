"""One OpenAPI document for the three BBWS APIs: ``src/bbws/openapi.yaml``.

Each service's document is generated from its routes and models (``openapi_document``);
this merges them. The committed file is what clients and schemathesis read, and a test
fails when it no longer matches the routes: regenerate it with

    python -m bbws.services.bundle
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any, Final

import yaml

from bbws.services.config import Settings
from bbws.services.openapi import openapi_document

SERVICES: Final = ("products", "campaigns", "orders")
DOCUMENT: Final = Path(__file__).resolve().parents[1] / "openapi.yaml"
# Settings only shape the document through names, never through secrets or URLs.
_DOC_SETTINGS: Final = {
    "BBWS_ENV": "dev",
    "BBWS_DOMAIN": "dev.kimmyai.io",
    "JWKS_URL": "https://example.invalid/.well-known/jwks.json",
    "JWT_ISSUER": "https://example.invalid",
    "BBWS_CURSOR_KEY": "openapi-generation-only-not-a-secret-0000",
}


class BundleConflict(ValueError):
    """Two services define the same path or component differently."""


def service_document(name: str, settings: Settings) -> dict[str, Any]:
    api = importlib.import_module(f"bbws.services.{name}.api")
    return openapi_document(api.create_app(settings))


def bundle(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings.from_env(_DOC_SETTINGS)
    documents = [service_document(name, settings) for name in SERVICES]
    merged: dict[str, Any] = {
        "openapi": documents[0]["openapi"],
        "info": {
            "title": "BBWS APIs",
            "version": documents[0]["info"]["version"],
            "description": "The products, campaigns and orders APIs of the BBWS customer "
            "portal. Generated from the services' routes: python -m bbws.services.bundle",
        },
        "servers": documents[0].get("servers", []),
        "paths": {},
        "components": {},
    }
    if "security" in documents[0]:
        merged["security"] = documents[0]["security"]
    for document in documents:
        _merge(merged["paths"], document.get("paths", {}), "path")
        for section, items in document.get("components", {}).items():
            _merge(merged["components"].setdefault(section, {}), items, f"components.{section}")
    return merged


def _merge(into: dict[str, Any], items: dict[str, Any], what: str) -> None:
    for key, value in items.items():
        if key in into and into[key] != value:
            raise BundleConflict(f"{what} `{key}` is defined differently by two services")
        into[key] = value


def render(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bbws.services.bundle",
        description="Write the OpenAPI document of the three BBWS APIs.",
    )
    parser.add_argument(
        "output", nargs="?", type=Path, default=DOCUMENT, help="default: %(default)s"
    )
    target: Path = parser.parse_args(argv).output
    target.write_text(render(bundle()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
