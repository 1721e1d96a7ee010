"""The sandbox's issuers, checked by the verifiers the services and the edge really run."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import jwt
import pytest

from bbws.edge.auth_validation import AuthConfig
from bbws.edge.auth_validation import TokenVerifier as EdgeVerifier
from bbws.services import auth
from bbws.services.errors import Unauthorized
from promote.sandbox import SandboxError
from promote.sandbox.tokens import TENANT_ID_PATTERN, Issuers

BASE_URL = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def issuers(tmp_path_factory: pytest.TempPathFactory) -> Issuers:
    return Issuers(tmp_path_factory.mktemp("state"), ["dev", "sit", "prod"], BASE_URL)


def service_verifier(issuers: Issuers, env: str, audience: str | None = None) -> auth.TokenVerifier:
    """What a function of ``env`` builds from its JWKS_URL, JWT_ISSUER and JWT_AUDIENCE."""
    return auth.TokenVerifier(issuers.jwks_file_url(env), issuers.issuer(env), audience)


def test_the_services_accept_a_minted_token_and_see_its_tenant_and_groups(
    issuers: Issuers,
) -> None:
    token = issuers.mint("sit", tenant="acme", groups=["admin"], subject="alice")
    principal = service_verifier(issuers, "sit").verify(token)
    assert (principal.subject, principal.tenant_id) == ("alice", "acme")
    assert principal.is_admin


def test_a_token_without_groups_is_a_plain_member(issuers: Issuers) -> None:
    principal = service_verifier(issuers, "sit").verify(issuers.mint("sit", tenant="acme"))
    assert not principal.is_admin
    assert principal.subject == "sandbox-acme"


def test_access_tokens_carry_the_audience_as_client_id(issuers: Issuers) -> None:
    verifier = service_verifier(issuers, "dev", audience="shop-client")
    access = issuers.mint("dev", tenant="t1", token_use="access", audience="shop-client")
    identity = issuers.mint("dev", tenant="t1", token_use="id", audience="shop-client")
    assert verifier.verify(access).tenant_id == "t1"
    assert verifier.verify(identity).tenant_id == "t1"
    assert jwt.decode(access, options={"verify_signature": False})["client_id"] == "shop-client"
    with pytest.raises(Unauthorized):
        verifier.verify(issuers.mint("dev", tenant="t1", audience="another-client"))


def test_a_token_of_one_environment_is_refused_by_another(issuers: Issuers) -> None:
    token = issuers.mint("sit", tenant="acme")
    with pytest.raises(Unauthorized):
        service_verifier(issuers, "prod").verify(token)
    # Even with prod's issuer name forged onto sit's key, the signature gives it away.
    with pytest.raises(Unauthorized):
        auth.TokenVerifier(issuers.jwks_file_url("prod"), issuers.issuer("sit")).verify(token)
    assert issuers.key("sit").kid != issuers.key("prod").kid


def test_an_expired_token_is_refused(issuers: Issuers) -> None:
    token = issuers.mint("sit", tenant="acme", ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(Unauthorized):
        service_verifier(issuers, "sit").verify(token)


def test_the_edge_accepts_an_id_token_from_the_issuers_jwks(issuers: Issuers) -> None:
    config = AuthConfig(
        issuer=issuers.issuer("prod"), jwks=issuers.jwks("prod"), audience=("web-client",)
    )
    edge = EdgeVerifier(config)
    token = issuers.mint("prod", tenant="acme", audience="web-client")
    assert edge.claims(token)["custom:tenant_id"] == "acme"
    assert not edge.is_valid(issuers.mint("prod", tenant="acme", token_use="access"))
    assert not edge.is_valid(issuers.mint("sit", tenant="acme", audience="web-client"))


def test_the_key_persists_across_instances_and_stays_private(tmp_path: Path) -> None:
    first = Issuers(tmp_path, ["sit"], BASE_URL)
    token = first.mint("sit", tenant="acme")
    second = Issuers(tmp_path, ["sit"], "http://127.0.0.1:9999/")
    assert second.key("sit").kid == first.key("sit").kid
    assert second.jwks("sit") == first.jwks("sit")
    assert stat.S_IMODE((tmp_path / "oidc" / "sit.pem").stat().st_mode) == 0o600
    # A second process signs with the same key, so the running sandbox's JWKS verifies it.
    auth.TokenVerifier(first.jwks_file_url("sit"), first.issuer("sit")).verify(token)


def test_the_published_jwks_and_discovery_document(issuers: Issuers) -> None:
    jwks = issuers.jwks("sit")
    assert json.loads(issuers.jwks_path("sit").read_text()) == jwks
    (key,) = jwks["keys"]
    assert (key["kty"], key["use"], key["alg"], key["kid"]) == (
        "RSA",
        "sig",
        "RS256",
        issuers.key("sit").kid,
    )
    assert "d" not in key  # the public half only
    assert set(issuers.jwks_by_env()) == {"dev", "sit", "prod"}
    assert issuers.issuer("sit") == "http://127.0.0.1:8080/oidc/sit"
    assert issuers.jwks_url("sit") == "http://127.0.0.1:8080/oidc/sit/.well-known/jwks.json"
    discovery = issuers.openid_configuration("sit")
    assert (discovery["issuer"], discovery["jwks_uri"]) == (
        issuers.issuer("sit"),
        issuers.jwks_url("sit"),
    )


def test_an_unknown_environment_is_named_with_a_suggestion(issuers: Issuers) -> None:
    with pytest.raises(SandboxError, match=r"no environment `stt`.*did you mean `sit`"):
        issuers.mint("stt", tenant="acme")


@pytest.mark.parametrize("tenant", ["", "-acme", "a#b", "x" * 65, "acme corp"])
def test_a_tenant_the_services_would_refuse_is_refused_here(issuers: Issuers, tenant: str) -> None:
    with pytest.raises(SandboxError, match="tenant id"):
        issuers.mint("sit", tenant=tenant)
    assert not auth.is_valid_tenant_id(tenant)


def test_the_tenant_rule_is_the_services_rule() -> None:
    assert TENANT_ID_PATTERN.pattern == auth.TENANT_ID_PATTERN.pattern


@pytest.mark.parametrize("ttl", [0, -5])
def test_a_lifetime_must_be_positive(issuers: Issuers, ttl: int) -> None:
    with pytest.raises(SandboxError, match="lifetime must be positive"):
        issuers.mint("sit", tenant="acme", ttl_seconds=ttl)


def test_a_damaged_key_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "oidc").mkdir()
    (tmp_path / "oidc" / "sit.pem").write_text("not a key")
    with pytest.raises(SandboxError, match="cannot read the signing key"):
        Issuers(tmp_path, ["sit"], BASE_URL).jwks("sit")
