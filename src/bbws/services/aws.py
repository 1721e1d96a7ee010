"""How the services reach AWS: one client configuration, and clients made on first use.

Clients are created lazily so that building an app (for its OpenAPI document, or in a cold
start that only answers /health) needs no AWS region or credentials.
"""

from __future__ import annotations

from typing import Final

from botocore.config import Config

# Inside a Lambda's time budget: fail fast on connect, retry throttles with backoff.
AWS_CONFIG: Final = Config(
    connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
)
