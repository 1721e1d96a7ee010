"""Viewer-request on the protected behaviours: redirects first, then an RS256 JWT (Test 9).

CloudFront allows one function per event type per cache behaviour, so this is the protected
behaviours' only viewer-request function and does the ``redirects`` job too: ``handler``
calls ``redirects.redirect`` first (``www.`` -> apex and http -> https, one 301), so a viewer
on ``www.kimmyai.io/account`` is sent to the apex before any token is asked for.

Then a request under a protected prefix (``/protected-page``, ``/account``, ``/admin`` by
default; ``/account`` covers ``/account`` and ``/account/...`` but not ``/accountant``) must
carry a token, from ``Authorization: Bearer <jwt>`` or else the ``id_token`` cookie, that
passes: signature by the bundled JWKS key named by ``kid``, ``alg`` RS256 only, ``exp`` (with
leeway) and ``nbf``, ``iss`` equal to the issuer, ``token_use`` among the allowed values, and
``aud`` among the audiences when any are configured. PyJWT parses the token and checks the
claims; ``rsa`` checks the signature (``_rs256``), so the zip is pure Python and small enough
for a viewer trigger. Anything else gets ``401`` with ``WWW-Authenticate: Bearer`` and
``Cache-Control: no-store``; the body never says which check failed. An accepted request goes
on unchanged: the cache policy forwards no headers, so ``Authorization`` never reaches S3.

Configuration: Lambda@Edge has no environment variables, so the deploy writes
``auth_config.json`` (``AuthConfig.to_json``) next to this module in the zip; ``handler`` loads
it once per cold start. Tests build handlers from a config with ``make_handler``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt

from ._cloudfront import (
    CfRequest,
    CfResponse,
    CloudFrontEvent,
    Headers,
    cookies,
    generated_response,
    header_value,
    request_of,
)
from ._rs256 import ALGORITHM, RS256OnlyJWT, public_keys
from .redirects import redirect
from .security_headers import SECURITY_HEADERS

CONFIG_FILE: Final = "auth_config.json"
DEFAULT_PROTECTED_PREFIXES: Final = ("/protected-page", "/account", "/admin")

logger = logging.getLogger(__name__)

Handler = Callable[[CloudFrontEvent, object], CfRequest | CfResponse]


class InvalidTokenError(Exception):
    """The token is missing a claim value we require; PyJWT covers the rest."""


def _prefix(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"protected prefix must start with '/': {value!r}")
    return value.rstrip("/") or "/"


@dataclass(frozen=True)
class AuthConfig:
    """What the edge needs to verify tokens; serialised into ``auth_config.json``."""

    issuer: str
    jwks: Mapping[str, Any]
    protected_prefixes: tuple[str, ...] = DEFAULT_PROTECTED_PREFIXES
    audience: tuple[str, ...] = ()
    token_use: tuple[str, ...] = ("id",)
    cookie_name: str = "id_token"
    leeway_seconds: int = 0

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ValueError("issuer is required")
        # Parsed here so a JWKS the edge cannot use stops the deploy, not every request.
        if not public_keys(self.jwks):
            raise ValueError("jwks must hold at least one RS256 signing key")
        # Normalised once so "/account/" and "/account" protect the same paths.
        object.__setattr__(self, "protected_prefixes", tuple(map(_prefix, self.protected_prefixes)))

    def is_protected(self, uri: str) -> bool:
        return any(p == "/" or uri == p or uri.startswith(p + "/") for p in self.protected_prefixes)

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks": dict(self.jwks),
            "protected_prefixes": list(self.protected_prefixes),
            "audience": list(self.audience),
            "token_use": list(self.token_use),
            "cookie_name": self.cookie_name,
            "leeway_seconds": self.leeway_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthConfig:
        return cls(
            issuer=str(data["issuer"]),
            jwks=dict(data["jwks"]),
            protected_prefixes=tuple(data.get("protected_prefixes", DEFAULT_PROTECTED_PREFIXES)),
            audience=tuple(data.get("audience", ())),
            token_use=tuple(data.get("token_use", ("id",))),
            cookie_name=str(data.get("cookie_name", "id_token")),
            leeway_seconds=int(data.get("leeway_seconds", 0)),
        )


def load_config(path: Path | None = None) -> AuthConfig:
    path = path or Path(__file__).with_name(CONFIG_FILE)
    return AuthConfig.from_json(json.loads(path.read_text(encoding="utf-8")))


class TokenVerifier:
    """Verifies tokens against one JWKS; build once per cold start, not per request."""

    def __init__(self, config: AuthConfig) -> None:
        self._config = config
        self._keys = public_keys(config.jwks)
        self._jwt = RS256OnlyJWT()

    def claims(self, token: str) -> dict[str, Any]:
        kid = self._jwt.get_unverified_header(token).get("kid")
        if kid not in self._keys:
            raise InvalidTokenError("unknown kid")
        # PyJWT annotates keys with cryptography's types; it hands them to RS256.prepare_key.
        key: Any = self._keys[kid]
        config = self._config
        claims: dict[str, Any] = self._jwt.decode(
            token,
            key,
            # Fixed, never read from the token: alg none or HS256 fail here (RFC 8725 2.1).
            algorithms=[ALGORITHM],
            issuer=config.issuer,
            audience=list(config.audience) or None,
            leeway=config.leeway_seconds,
            # exp and nbf (when present) are checked with the leeway, iat must not be future.
            options={"require": ["exp", "iss", "token_use"], "verify_aud": bool(config.audience)},
        )
        if claims["token_use"] not in config.token_use:
            raise InvalidTokenError("token_use not allowed")
        return claims

    def is_valid(self, token: str) -> bool:
        try:
            self.claims(token)
        except (jwt.PyJWTError, InvalidTokenError) as exc:
            logger.info("token rejected: %s", type(exc).__name__)
            return False
        return True


def token_from(headers: Headers, cookie_name: str) -> str | None:
    """The bearer token from ``Authorization``, else from the cookie; None when neither."""
    authorization = header_value(headers, "authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return cookies(headers).get(cookie_name) or None


def unauthorized(challenge: str) -> CfResponse:
    headers = (
        ("WWW-Authenticate", challenge),
        ("Cache-Control", "no-store"),
        ("Content-Type", "text/plain; charset=utf-8"),
        *SECURITY_HEADERS,
    )
    return generated_response(401, "Unauthorized", headers, body="Unauthorized")


def check(request: CfRequest, config: AuthConfig, verifier: TokenVerifier) -> CfResponse | None:
    """None when the request may proceed, else the 401 to send instead."""
    if not config.is_protected(request["uri"]):
        return None
    token = token_from(request["headers"], config.cookie_name)
    if token is None:
        return unauthorized("Bearer")
    if not verifier.is_valid(token):
        return unauthorized('Bearer error="invalid_token"')
    return None


def make_handler(config: AuthConfig) -> Handler:
    """The protected behaviours' viewer-request function: redirect, else check, else pass."""
    verifier = TokenVerifier(config)

    def _handler(event: CloudFrontEvent, context: object) -> CfRequest | CfResponse:
        request = request_of(event)
        # Redirect first: cookies are per host, so a viewer on www. may not carry the apex's
        # id_token; a 401 there would hide the redirect to where the token is.
        return redirect(request) or check(request, config, verifier) or request

    return _handler


@functools.cache
def _bundled() -> Handler:
    return make_handler(load_config())


def handler(event: CloudFrontEvent, context: object) -> CfRequest | CfResponse:
    """The deployed entry point: the config and keys are read on the first call only."""
    return _bundled()(event, context)
