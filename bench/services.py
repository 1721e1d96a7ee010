"""Benchmark: in-process latency of the BBWS API routes against moto.

Each route is called through its real Lambda handler with a REST (v1) event, a signed
RS256 token and moto's DynamoDB (tables made by the real stack; the routes measured here
touch no bucket).
Prints p50 and p95 per route in milliseconds. No target is set by the services issue:
these are the figures to compare releases against.

Run: .venv/bin/python bench/services.py [--calls N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the event builder and token signer live in tests/

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from moto import mock_aws  # noqa: E402
from tests.bbws.services.support import (  # noqa: E402
    ENV,
    REGION,
    FakeLambdaContext,
    rest_event,
    service_environ,
    sign_token,
    write_jwks,
)

from bbws.schemas import dynamodb  # noqa: E402
from bbws.schemas.common import Target  # noqa: E402
from bbws.services.app import build_handler  # noqa: E402
from bbws.services.campaigns.api import create_app as campaigns_app  # noqa: E402
from bbws.services.config import Settings  # noqa: E402
from bbws.services.orders.api import create_app as orders_app  # noqa: E402
from bbws.services.products.api import create_app as products_app  # noqa: E402

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    def __init__(self, settings: Settings, token: str) -> None:
        self.auth = {"Authorization": f"Bearer {token}"}
        self.handlers: dict[str, Handler] = {
            "products": build_handler(products_app(settings)),
            "campaigns": build_handler(campaigns_app(settings)),
            "orders": build_handler(orders_app(settings)),
        }
        self.samples: dict[str, list[float]] = {}
        self.sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the bench

    def quiet_loggers(self) -> None:
        """Powertools' loggers keep their own stdout: send them to the sink too, so that
        they still format every line as in Lambda but nothing floods the report."""
        for logger in logging.Logger.manager.loggerDict.values():
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, logging.StreamHandler):
                    handler.setStream(self.sink)

    def call(self, label: str, method: str, path: str, body: Any = None) -> Any:
        route, _, query = path.partition("?")
        service = route.strip("/").split("/")[0]
        event = rest_event(
            method, route, body=body, headers=self.auth, query=dict(parse_qsl(query)) or None
        )
        # The handlers write their log and EMF lines as in Lambda; the bench discards them.
        with contextlib.redirect_stdout(self.sink):
            start = time.perf_counter()
            response = self.handlers[service](event, FakeLambdaContext())
            elapsed = (time.perf_counter() - start) * 1000
        self.samples.setdefault(label, []).append(elapsed)
        if response["statusCode"] >= 400:
            raise RuntimeError(f"{label}: {response['statusCode']} {response.get('body')}")
        return json.loads(response["body"]) if response.get("body") else None


def exercise(bench: Bench, calls: int, first: int = 0) -> None:
    for i in range(first, first + calls):
        bench.call("GET /products/health", "GET", "/products/health")
        product = bench.call(
            "POST /products", "POST", "/products",
            {"name": f"Bench {i}", "description": "bench", "category": "Electronics",
             "price": 299.99, "currency": "USD", "inventory": 1000, "sku": f"BENCH-{i:05d}"},
        )  # fmt: skip
        pid = product["id"]
        bench.call("GET /products/{id}", "GET", f"/products/{pid}")
        bench.call("PUT /products/{id}", "PUT", f"/products/{pid}", {"price": 279.99})
        bench.call("GET /products?category", "GET", "/products?category=Electronics&limit=20")
        campaign = bench.call(
            "POST /campaigns", "POST", "/campaigns",
            {"name": f"Bench {i}", "status": "draft", "start_date": "2030-02-01",
             "discount_percent": 10, "product_ids": [pid]},
        )  # fmt: skip
        bench.call("GET /campaigns/{id}", "GET", f"/campaigns/{campaign['id']}")
        bench.call("GET /campaigns", "GET", "/campaigns?limit=20")
        order = bench.call(
            "POST /orders", "POST", "/orders", {"items": [{"product_id": pid, "quantity": 1}]}
        )
        bench.call("GET /orders/{id}", "GET", f"/orders/{order['id']}")
        bench.call("POST /orders/{id}/cancel", "POST", f"/orders/{order['id']}/cancel")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per route")
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = "bench"
    os.environ["AWS_DEFAULT_REGION"] = REGION
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        jwks = write_jwks(key, Path(tmp) / "jwks.json")
        target = Target(ENV, REGION)
        dynamodb.apply_all(target)
        settings = Settings.from_env(service_environ(jwks.as_uri()))
        bench = Bench(settings, sign_token(key, groups=("admin",)))
        bench.quiet_loggers()
        exercise(bench, 5)  # warm: cold starts, JWKS fetch, first client calls
        bench.quiet_loggers()
        bench.samples.clear()
        exercise(bench, args.calls, first=5)
    print(f"services: in-process through the Lambda handlers, moto, {args.calls} calls per route")
    print(f"  {'route':<28} {'p50 ms':>8} {'p95 ms':>8}")
    for label, samples in bench.samples.items():
        p50, p95 = statistics.median(samples), percentile(samples, 0.95)
        print(f"  {label:<28} {p50:8.2f} {p95:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
