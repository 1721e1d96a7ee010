"""A local OIDC issuer per environment, so the services accept tokens in the sandbox.

Each environment gets its own RSA-2048 signing key, as each account has its own Cognito
pool: a token minted for ``sit`` is refused by ``prod``. The issuer is
``{base_url}/oidc/{env}`` (the gateway serves the JWKS and discovery document there). Under
the state directory:

- ``oidc/<env>.pem``: the private key (mode 0600), created on first use and kept, so the
  ``promote sandbox token`` command signs with the key the running sandbox publishes;
- ``oidc/<env>.jwks.json``: the public JWK set, for a ``file://`` ``JWKS_URL`` when the
  functions must verify tokens without the gateway.

Tokens carry the claims the BBWS services and the edge check (see ``bbws.services.auth``
and ``bbws.edge.auth_validation``): ``iss``, ``sub``, ``exp``, ``token_use``,
``custom:tenant_id``, ``cognito:groups``, and ``aud`` (id tokens) or ``client_id``
(access tokens) when an audience is given, as Cognito does.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from promote.sandbox.errors import SandboxError
from promote.suggest import did_you_mean

TokenUse = Literal["id", "access"]

OIDC_DIR: Final = "oidc"
KEY_BITS: Final = 2048
ALGORITHM: Final = "RS256"
TENANT_CLAIM: Final = "custom:tenant_id"
GROUPS_CLAIM: Final = "cognito:groups"
# The services' rule (bbws.services.auth.TENANT_ID_PATTERN, which a test keeps in step):
# promote does not import the estate's code, but a token they would refuse is useless.
TENANT_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_TOKEN_USES: Final = ("id", "access")


@dataclass(frozen=True)
class SigningKey:
    """One environment's key: the private half signs, ``jwk`` is what the JWKS publishes."""

    private: rsa.RSAPrivateKey
    kid: str
    jwk: dict[str, str]


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(private: rsa.RSAPrivateKey) -> dict[str, str]:
    """The key's public JWK; ``kid`` is its RFC 7638 thumbprint, so it follows the key."""
    numbers = private.public_key().public_numbers()
    members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("ascii")
    digest = hashlib.sha256(canonical).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return {**members, "kid": kid, "use": "sig", "alg": ALGORITHM}


def _write_exclusive(path: Path, data: bytes) -> bool:
    """Write ``path`` (mode 0600) unless it exists; False when another process won the race.

    The content goes to a private temporary file first and is linked into place, so a
    reader never sees half a key.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _write_replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _new_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SandboxError(f"cannot read the signing key {path}: {exc}; delete it") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < KEY_BITS:
        raise SandboxError(f"{path} is not an RSA key of {KEY_BITS}+ bits; delete it")
    return key


class Issuers:
    """The sandbox's token issuers, one per environment, keyed under ``state_dir/oidc``."""

    def __init__(self, state_dir: Path, environments: Sequence[str], base_url: str) -> None:
        if not environments:
            raise SandboxError("an issuer needs at least one environment")
        self._dir = state_dir / OIDC_DIR
        self._environments = tuple(environments)
        self._base_url = base_url.rstrip("/")
        self._keys: dict[str, SigningKey] = {}

    @property
    def environments(self) -> tuple[str, ...]:
        return self._environments

    def issuer(self, env: str) -> str:
        return f"{self._base_url}/oidc/{self._known(env)}"

    def jwks_url(self, env: str) -> str:
        """Where the gateway serves ``env``'s JWKS (the services' ``JWKS_URL``)."""
        return f"{self.issuer(env)}/.well-known/jwks.json"

    def jwks_path(self, env: str) -> Path:
        """The JWKS file, written with the key: for a ``file://`` ``JWKS_URL``."""
        self.key(env)
        return self._jwks_file(env)

    def jwks_file_url(self, env: str) -> str:
        return self.jwks_path(env).resolve().as_uri()

    def jwks(self, env: str) -> dict[str, Any]:
        return {"keys": [dict(self.key(env).jwk)]}

    def jwks_by_env(self) -> dict[str, dict[str, Any]]:
        return {env: self.jwks(env) for env in self._environments}

    def openid_configuration(self, env: str) -> dict[str, Any]:
        """The discovery document, as far as a verifier reads it."""
        issuer = self.issuer(env)
        return {
            "issuer": issuer,
            "jwks_uri": self.jwks_url(env),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
        }

    def key(self, env: str) -> SigningKey:
        """``env``'s signing key: loaded, or created and stored on first use."""
        env = self._known(env)
        if env not in self._keys:
            self._keys[env] = self._load_or_create(env)
        return self._keys[env]

    def mint(
        self,
        env: str,
        *,
        tenant: str,
        groups: Sequence[str] = (),
        subject: str | None = None,
        token_use: TokenUse = "id",
        audience: str | None = None,
        ttl_seconds: int = 3600,
        now: float | None = None,
    ) -> str:
        """A signed token for ``tenant`` in ``env``, valid for ``ttl_seconds`` from ``now``."""
        _check_claims(tenant, token_use, ttl_seconds)
        key = self.key(env)
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer(env),
            "sub": subject or f"sandbox-{tenant}",
            "iat": issued,
            "auth_time": issued,
            "exp": issued + ttl_seconds,
            "jti": str(uuid.uuid4()),
            "token_use": token_use,
            TENANT_CLAIM: tenant,
        }
        if groups:
            claims[GROUPS_CLAIM] = list(groups)
        if audience is not None:
            # Where Cognito puts the app client: verifiers compare JWT_AUDIENCE with it.
            claims["aud" if token_use == "id" else "client_id"] = audience
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def _known(self, env: str) -> str:
        if env not in self._environments:
            known = ", ".join(self._environments)
            hint = did_you_mean(env, self._environments)
            raise SandboxError(f"no environment `{env}` in the sandbox{hint}; it has: {known}")
        return env

    def _jwks_file(self, env: str) -> Path:
        return self._dir / f"{env}.jwks.json"

    def _load_or_create(self, env: str) -> SigningKey:
        path = self._dir / f"{env}.pem"
        if not path.exists():
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Losing the race to another process is fine: its key is then everyone's.
            _write_exclusive(path, _new_key_pem())
        private = _load_key(path)
        jwk = public_jwk(private)
        signing = SigningKey(private=private, kid=jwk["kid"], jwk=jwk)
        self._publish(env, signing)
        return signing

    def _publish(self, env: str, signing: SigningKey) -> None:
        text = json.dumps({"keys": [signing.jwk]}, indent=2) + "\n"
        target = self._jwks_file(env)
        with contextlib.suppress(OSError):
            if target.read_text(encoding="utf-8") == text:
                return
        _write_replace(target, text)


def _check_claims(tenant: str, token_use: str, ttl_seconds: int) -> None:
    if TENANT_ID_PATTERN.fullmatch(tenant) is None:
        raise SandboxError(
            f"tenant id {tenant!r} would be refused by the services: 1-64 letters, digits,"
            " '_' or '-', starting with a letter or digit"
        )
    if token_use not in _TOKEN_USES:
        raise SandboxError(f"token use must be `id` or `access`, not {token_use!r}")
    if ttl_seconds <= 0:
        raise SandboxError(f"the token's lifetime must be positive, not {ttl_seconds}s")
