"""Each environment's OIDC issuer documents, on the gateway's loopback host.

``/oidc/{env}/.well-known/jwks.json`` is the environment's JWK set (from
:mod:`promote.sandbox.tokens`), ``/oidc/{env}/.well-known/openid-configuration`` its
discovery document. The issuer is ``{base}/oidc/{env}``, where ``base`` is the gateway's TLS
origin (``https://127.0.0.1:{https_port}``; plain http without TLS): the same whichever port
asks, because tokens name it in ``iss``. Cognito's issuers are https, and services may
insist on it (BBWS refuses a JWKS_URL that is not https outside dev).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from promote.sandbox.gateway.messages import Response, json_response

PREFIX: Final = "/oidc/"
JWKS: Final = ".well-known/jwks.json"
DISCOVERY: Final = ".well-known/openid-configuration"


def issuer(base: str, env: str) -> str:
    return f"{base}/oidc/{env}"


def oidc_response(path: str, jwks: Mapping[str, Mapping[str, Any]], base: str) -> Response | None:
    """The document at ``path``; None when ``path`` is not under ``/oidc/``."""
    if not path.startswith(PREFIX):
        return None
    env, _, document = path.removeprefix(PREFIX).partition("/")
    keys = jwks.get(env)
    if keys is None:
        known = ", ".join(sorted(jwks)) or "none"
        return json_response(404, {"message": f"no issuer for `{env}` (known: {known})"})
    base = issuer(base, env)
    if document == JWKS:
        return json_response(200, keys, [("Cache-Control", "max-age=300")])
    if document == DISCOVERY:
        return json_response(200, discovery(base), [("Cache-Control", "max-age=300")])
    return json_response(404, {"message": f"{base} serves /{JWKS} and /{DISCOVERY}"})


def discovery(base: str) -> dict[str, Any]:
    return {
        "issuer": base,
        "jwks_uri": f"{base}/{JWKS}",
        "response_types_supported": ["code", "token", "id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "email", "token_use"],
    }
