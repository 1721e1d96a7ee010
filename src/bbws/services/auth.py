"""Bearer tokens: RS256 JWTs issued by Cognito, verified against the pool's JWKS.

A token is accepted when its signature matches a key of ``JWKS_URL`` (fetched once per cold
start and refreshed when an unknown ``kid`` appears), ``iss`` is ``JWT_ISSUER``, ``exp`` is
in the future, ``token_use`` is ``id`` or ``access`` and ``custom:tenant_id`` is a tenant id
the key scheme can hold. With ``JWT_AUDIENCE`` set, id tokens must carry it as ``aud`` and
access tokens as ``client_id`` (Cognito puts the app client there). Any failure is a 401
that says nothing about which check failed; a JWKS that cannot be fetched is our fault, so
that is a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse
from urllib.request import url2pathname

import jwt

from bbws.schemas.dynamodb_definition import tenant_partition
from bbws.services.errors import Forbidden, InternalError, Unauthorized

ADMIN_GROUP: Final = "admin"
TENANT_CLAIM: Final = "custom:tenant_id"
GROUPS_CLAIM: Final = "cognito:groups"
TOKEN_USES: Final = frozenset({"id", "access"})
# Stricter than the key scheme needs ("no '#'"): ids also appear in URLs, logs and S3 keys.
TENANT_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
JWKS_CACHE_SECONDS: Final = 3600
CLOCK_SKEW_SECONDS: Final = 5  # between Cognito's clock and ours, for exp and iat
_BEARER: Final = re.compile(r"^Bearer\s+(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant_id: str
    groups: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups

    @property
    def partition(self) -> str:
        """The tenant's ``pk`` value; every query of this request is scoped by it."""
        return tenant_partition(self.tenant_id)


# The caller of the request being handled; set by the app's guard, reset after each request.
_PRINCIPAL: ContextVar[Principal | None] = ContextVar("bbws_principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller. Only public (/health) routes have none: a 401 there."""
    principal = _PRINCIPAL.get()
    if principal is None:
        raise Unauthorized()
    return principal


def set_principal(principal: Principal | None) -> None:
    _PRINCIPAL.set(principal)


def is_valid_tenant_id(value: object) -> bool:
    return isinstance(value, str) and TENANT_ID_PATTERN.fullmatch(value) is not None


def bearer_token(authorization: str | None) -> str:
    match = _BEARER.match(authorization or "")
    if match is None:
        raise Unauthorized()
    return match.group(1)


class JwksClient(jwt.PyJWKClient):
    """PyJWT's cached JWKS client, which also reads a ``file://`` JWKS (tests, sandbox).

    PyJWT refuses non-http(s) URIs because a token's ``jku`` header could name one; ours
    comes from the function's configuration only, and Settings allow ``file://`` in dev only.
    PyJWT documents ``fetch_data`` as the method to override.
    """

    def __init__(self, uri: str, **options: Any) -> None:
        parsed = urlparse(uri)
        self._path = Path(url2pathname(parsed.path)) if parsed.scheme == "file" else None
        super().__init__("https://localhost/" if self._path else uri, **options)
        self.uri = uri

    def fetch_data(self) -> Any:
        if self._path is None:
            return super().fetch_data()
        try:
            return json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise jwt.PyJWKClientConnectionError(f"cannot read the JWKS file: {exc}") from exc


class TokenVerifier:
    """Verifies tokens for one issuer; build one per cold start so the JWKS stays cached."""

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str | None = None,
        *,
        jwks_client: jwt.PyJWKClient | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._jwks = jwks_client or JwksClient(
            jwks_url, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS, timeout=5
        )

    def verify(self, token: str) -> Principal:
        claims = self._claims(token)
        if claims.get("token_use") not in TOKEN_USES or not self._audience_ok(claims):
            raise Unauthorized()
        return principal_from_claims(claims)

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                # aud is checked by _audience_ok: Cognito access tokens have none.
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise InternalError("cannot fetch the signing keys") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized() from exc

    def _audience_ok(self, claims: Mapping[str, Any]) -> bool:
        if self.audience is None:
            return True
        claim = "aud" if claims.get("token_use") == "id" else "client_id"
        value = claims.get(claim)
        values = value if isinstance(value, list) else [value]
        return self.audience in values


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    tenant = claims.get(TENANT_CLAIM)
    if not is_valid_tenant_id(tenant):
        # Authentic, but bound to no tenant we could serve.
        raise Forbidden("the token is not bound to a valid tenant")
    groups = claims.get(GROUPS_CLAIM) or []
    if not isinstance(groups, list):
        groups = []
    return Principal(
        subject=str(claims["sub"]),
        tenant_id=str(tenant),
        groups=frozenset(g for g in groups if isinstance(g, str)),
    )
