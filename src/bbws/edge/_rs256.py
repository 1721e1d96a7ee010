"""RS256 for PyJWT on the pure-Python ``rsa`` package, so the auth zip has no compiled code.

Why: PyJWT's own RS256 runs on ``cryptography``, whose compiled extension makes the zip about
5 MB (CloudFront allows 1 MB on viewer triggers) and loads only on the CPython it was built
for. ``rsa.verify`` does the RSA and PKCS#1 v1.5 work; this module only adapts it to PyJWT.

PyJWT still parses the token and checks the claims. It does so through ``RS256OnlyJWT``, a
``PyJWT`` whose ``PyJWS`` holds this one algorithm and nothing else: no ``none``, no HS256
(so a public key can never be used as an HMAC secret), and not PyJWT's global registry, where
``cryptography``'s RS256 may be registered by other code in the same process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NoReturn

import jwt
import rsa
from jwt.algorithms import Algorithm
from jwt.exceptions import InvalidKeyError
from jwt.utils import from_base64url_uint

ALGORITHM: Final = "RS256"
# rsa.verify reports the hash named inside the signature; RS256 means SHA-256 and nothing else.
_HASH: Final = "SHA-256"
# What PyJWT's cryptography backend warns below; Cognito's keys are 2048 bits.
MIN_KEY_BITS: Final = 2048


class RS256(Algorithm):
    """RSASSA-PKCS1-v1_5 with SHA-256, verification only (the edge never signs)."""

    def prepare_key(self, key: Any) -> rsa.PublicKey:
        # Only a key taken from the JWKS: a str or bytes here would mean a caller mixed key types.
        if not isinstance(key, rsa.PublicKey):
            raise InvalidKeyError(f"RS256 needs an rsa.PublicKey, not {type(key).__name__}")
        return key

    def verify(self, msg: bytes, key: rsa.PublicKey, sig: bytes) -> bool:
        size = (key.n.bit_length() + 7) // 8
        # RFC 8017 8.2.2: the signature is exactly k octets and its integer is below n.
        # rsa.verify reduces it mod n instead, which would accept s + n as a second encoding.
        if len(sig) != size or int.from_bytes(sig, "big") >= key.n:
            return False
        try:
            return rsa.verify(msg, sig, key) == _HASH
        except rsa.VerificationError:
            return False

    def sign(self, msg: bytes, key: Any) -> NoReturn:
        raise NotImplementedError("the edge only verifies tokens")

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> NoReturn:
        raise NotImplementedError("the edge only reads the issuer's JWKS")

    @staticmethod
    def from_jwk(jwk: str | Mapping[str, Any]) -> rsa.PublicKey:
        data = json.loads(jwk) if isinstance(jwk, str) else jwk
        if data.get("kty") != "RSA":
            raise InvalidKeyError(f"not an RSA key: kty={data.get('kty')!r}")
        try:
            n, e = from_base64url_uint(data["n"]), from_base64url_uint(data["e"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidKeyError("an RSA JWK needs base64url 'n' and 'e'") from exc
        if n.bit_length() < MIN_KEY_BITS or e < 3 or e % 2 == 0:
            raise InvalidKeyError(f"unusable RSA key: {n.bit_length()} bits, e={e}")
        return rsa.PublicKey(n, e)


def _is_rs256_signing_key(jwk: Mapping[str, Any]) -> bool:
    # "use" and "alg" are optional in a JWK; when present they must allow RS256 signatures.
    return (
        jwk.get("kty") == "RSA"
        and jwk.get("use", "sig") == "sig"
        and jwk.get("alg", ALGORITHM) == ALGORITHM
    )


def public_keys(jwks: Mapping[str, Any]) -> dict[str, rsa.PublicKey]:
    """The JWKS's RS256 signing keys by ``kid``. Other keys (EC, ``use: enc``) are ignored,
    like PyJWKSet does; a malformed RSA signing key raises ``ValueError``, because the JWKS
    is bundled at deploy time and a broken one must stop the deploy, not every request."""
    keys: dict[str, rsa.PublicKey] = {}
    for jwk in jwks.get("keys", ()):
        if not _is_rs256_signing_key(jwk):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("every RS256 key in the JWKS needs a 'kid' to be selected by")
        try:
            keys[kid] = RS256.from_jwk(jwk)
        except InvalidKeyError as exc:
            raise ValueError(f"JWKS key {kid!r}: {exc}") from exc
    return keys


class RS256OnlyJWT(jwt.PyJWT):
    """PyJWT's parsing and claim checks, verifying signatures with ``RS256`` only.

    ``PyJWT`` keeps its signature layer in ``_jws``; PyJWT itself rebinds that attribute to
    build its module-level API, and this does the same with a private ``PyJWS``. Were a PyJWT
    upgrade to rename it, the zip test run without ``cryptography`` would fail (no RS256).
    """

    def __init__(self) -> None:
        super().__init__()
        jws = jwt.PyJWS(algorithms=[])  # starts empty: none, HS* and cryptography's RS* removed
        jws.register_algorithm(ALGORITHM, RS256())
        self._jws = jws

    def get_unverified_header(self, token: str) -> dict[str, Any]:
        """The token's header, to pick the key by ``kid``; nothing in it is trusted yet."""
        return self._jws.get_unverified_header(token)
