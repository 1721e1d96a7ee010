"""Recorded CloudFront events and a signing key for the edge function tests."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

EVENTS = Path(__file__).parents[1] / "events" / "cloudfront"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_SitPool01"
KID = "sit-key-1"


@cache
def _recorded(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def event() -> Callable[[str], dict[str, Any]]:
    """A fresh copy of a recorded event: handlers mutate what they are given."""
    return lambda name: copy.deepcopy(_recorded(name))


@pytest.fixture
def issuer() -> str:
    return ISSUER


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def kid() -> str:
    return KID


@pytest.fixture(scope="session")
def jwks(signing_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]}


@pytest.fixture
def make_token(signing_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    """Sign a Cognito-like id token; keyword arguments override claims (None drops one)."""

    def _make(*, key: Any = None, kid: str = KID, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "sub": "7f1c2d3e-aaaa-bbbb-cccc-0123456789ab",
            "iss": ISSUER,
            "token_use": "id",
            "iat": now,
            "exp": now + 3600,
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, key or signing_key, algorithm="RS256", headers={"kid": kid})

    return _make
