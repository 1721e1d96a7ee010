"""auth_validation on recorded viewer-request events, tokens signed in the test (runbook Test 9).

Tokens are signed by PyJWT's own RS256 (cryptography, a test dependency only) and verified by
the edge's rsa-based one, so the two implementations check each other.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bbws.edge import _rs256, auth_validation
from bbws.edge.auth_validation import AuthConfig


@pytest.fixture
def config(issuer, jwks):
    return AuthConfig(issuer=issuer, jwks=jwks)


@pytest.fixture
def handler(config):
    return auth_validation.make_handler(config)


@pytest.fixture
def protected(event):
    """The recorded viewer-request for /protected-page, with a token added as asked."""

    def _with(token=None, *, via="cookie", name="viewer-request-protected-page.json"):
        recorded = event(name)
        headers = recorded["Records"][0]["cf"]["request"]["headers"]
        if token and via == "cookie":
            headers["cookie"].append({"key": "Cookie", "value": f"id_token={token}"})
        elif token:
            headers["authorization"] = [{"key": "Authorization", "value": f"Bearer {token}"}]
        return recorded

    return _with


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signing_input(header, claims) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _claims(issuer, **overrides):
    return {"iss": issuer, "token_use": "id", "exp": int(time.time()) + 300, **overrides}


def _challenge(response):
    assert response["status"] == "401", response
    return response["headers"]["www-authenticate"][0]["value"]


# --- what passes -----------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["cookie", "header"])
def test_valid_token_passes_through_unchanged(handler, protected, make_token, via):
    recorded = protected(make_token(), via=via)
    before = copy.deepcopy(recorded["Records"][0]["cf"]["request"])

    # Unchanged, Authorization included: the cache policy forwards no headers to S3.
    assert handler(recorded, None) == before


def test_public_path_passes_through_without_token(handler, event):
    recorded = event("viewer-request-apex.json")
    before = copy.deepcopy(recorded["Records"][0]["cf"]["request"])

    assert handler(recorded, None) == before


def test_leeway_admits_a_just_expired_token(issuer, jwks, protected, make_token):
    lenient = auth_validation.make_handler(AuthConfig(issuer=issuer, jwks=jwks, leeway_seconds=60))
    token = make_token(exp=int(time.time()) - 30)

    assert lenient(protected(token), None)["uri"] == "/protected-page"


# --- what is refused -------------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge(handler, protected):
    response = handler(protected(), None)

    assert _challenge(response) == "Bearer"
    assert response["headers"]["www-authenticate"][0]["key"] == "WWW-Authenticate"
    assert response["headers"]["cache-control"][0]["value"] == "no-store"
    assert "strict-transport-security" in response["headers"]  # viewer-response does not run
    assert response["body"] == "Unauthorized"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": int(time.time()) - 60}, id="expired"),
        pytest.param({"nbf": int(time.time()) + 600}, id="not-yet-valid"),
        pytest.param({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/other"}, id="bad-issuer"),
        pytest.param({"token_use": "access"}, id="wrong-token-use"),
        pytest.param({"token_use": None}, id="no-token-use"),
        pytest.param({"exp": None}, id="no-exp"),
    ],
)
def test_rejected_claims_are_401_invalid_token(handler, protected, make_token, claims):
    token = make_token(**claims)

    assert _challenge(handler(protected(token), None)) == 'Bearer error="invalid_token"'


def test_alg_none_is_401(handler, protected, issuer, kid):
    forged = _signing_input({"alg": "none", "typ": "JWT", "kid": kid}, _claims(issuer)) + "."

    assert _challenge(handler(protected(forged), None)) == 'Bearer error="invalid_token"'


def test_hs256_signed_with_the_public_key_is_401(
    handler, protected, issuer, signing_key, jwks, kid
):
    # Key confusion: HMAC "secrets" an attacker has, the public key in PEM and the JWK's n.
    pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = _signing_input(header, _claims(issuer))
    for secret in (pem, jwks["keys"][0]["n"].encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{_b64(mac)}"

        assert _challenge(handler(protected(forged), None)) == 'Bearer error="invalid_token"'


def test_rs256_header_over_a_sha1_signature_is_401(handler, protected, issuer, signing_key, kid):
    # rsa.verify accepts any hash the signature names; RS256 must mean SHA-256.
    signing_input = _signing_input({"alg": "RS256", "kid": kid}, _claims(issuer))
    sha1 = signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA1())
    sha256 = signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())

    assert _challenge(handler(protected(f"{signing_input}.{_b64(sha1)}"), None))
    assert handler(protected(f"{signing_input}.{_b64(sha256)}"), None)["uri"] == "/protected-page"


def test_unknown_kid_is_401(handler, protected, make_token):
    assert _challenge(handler(protected(make_token(kid="rotated-away")), None))


def test_bad_signature_is_401(handler, protected, make_token):
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert _challenge(handler(protected(make_token(key=impostor)), None))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "Bearer", "..."])
def test_malformed_token_is_401(handler, protected, token):
    assert _challenge(handler(protected(token), None))


def test_audience_is_checked_when_configured(issuer, jwks, protected, make_token):
    strict = auth_validation.make_handler(
        AuthConfig(issuer=issuer, jwks=jwks, audience=("portal-client",))
    )

    assert strict(protected(make_token(aud="portal-client")), None)["uri"] == "/protected-page"
    assert _challenge(strict(protected(make_token(aud="other-client")), None))
    assert _challenge(strict(protected(make_token()), None))


# --- redirects first: the protected behaviours' one viewer-request function ------------------


def test_www_on_a_protected_path_is_301_to_the_apex_before_any_token_check(handler, event):
    response = handler(event("viewer-request-account-www.json"), None)

    assert response["status"] == "301"
    location = response["headers"]["location"][0]["value"]
    assert location == "https://kimmyai.io/account/orders?tab=open"
    assert "strict-transport-security" in response["headers"]


def test_www_with_a_valid_token_is_still_redirected(handler, protected, make_token):
    recorded = protected(make_token(), name="viewer-request-account-www.json")

    assert handler(recorded, None)["status"] == "301"


def test_http_on_a_protected_path_is_301_to_https(handler, protected):
    recorded = protected()
    headers = recorded["Records"][0]["cf"]["request"]["headers"]
    headers["cloudfront-forwarded-proto"] = [{"key": "CloudFront-Forwarded-Proto", "value": "http"}]

    response = handler(recorded, None)

    assert response["status"] == "301"
    assert response["headers"]["location"][0]["value"] == "https://sit.kimmyai.io/protected-page"


# --- the RS256 implementation behind it ------------------------------------------------------


def test_signatures_are_checked_by_the_rsa_package_not_the_global_registry(
    config, protected, make_token, monkeypatch
):
    calls = []
    verify = _rs256.RS256.verify
    monkeypatch.setattr(
        _rs256.RS256, "verify", lambda self, *a: calls.append(a) or verify(self, *a)
    )
    global_rs256 = jwt.get_algorithm_by_name("RS256")

    auth_validation.make_handler(config)(protected(make_token()), None)

    assert len(calls) == 1
    assert jwt.get_algorithm_by_name("RS256") is global_rs256  # untouched
    assert not isinstance(global_rs256, _rs256.RS256)
    assert _rs256.RS256OnlyJWT()._jws.get_algorithms() == ["RS256"]


def test_a_second_encoding_of_a_valid_signature_is_refused(signing_key, jwks, kid):
    # s and s + n are the same signature mod n; RFC 8017 allows only s < n.
    key = _rs256.public_keys(jwks)[kid]
    size = (key.n.bit_length() + 7) // 8
    for attempt in range(200):
        message = f"message {attempt}".encode()
        s = signing_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        shifted = int.from_bytes(s, "big") + key.n
        if shifted.bit_length() <= size * 8:
            break
    else:
        pytest.skip("no signature below 2**(8k) - n in 200 tries")

    assert _rs256.RS256().verify(message, key, s)
    assert not _rs256.RS256().verify(message, key, shifted.to_bytes(size, "big"))
    assert not _rs256.RS256().verify(message, key, s[1:])


def test_rs256_takes_only_rsa_public_keys(jwks):
    with pytest.raises(jwt.InvalidKeyError):
        _rs256.RS256().prepare_key(jwks["keys"][0]["n"])


def test_jwks_keeps_only_rs256_signing_keys(jwks, kid):
    rsa_key = jwks["keys"][0]
    mixed = {
        "keys": [
            {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": "AA", "y": "AA"},
            {**rsa_key, "kid": "enc-1", "use": "enc"},
            {**rsa_key, "kid": "ps-1", "alg": "PS256"},
            rsa_key,
        ]
    }

    assert list(_rs256.public_keys(mixed)) == [kid]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kid": None}, "kid"),
        ({"n": "AQAB"}, "bits"),  # a toy modulus
        ({"e": "AAI"}, "e=2"),
        ({"n": None}, "'n' and 'e'"),
    ],
)
def test_a_broken_rsa_key_in_the_jwks_refuses_the_config(issuer, jwks, change, message):
    broken = {k: v for k, v in {**jwks["keys"][0], **change}.items() if v is not None}

    with pytest.raises(ValueError, match=message):
        AuthConfig(issuer=issuer, jwks={"keys": [broken]})


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/protected-page", True),
        ("/account", True),
        ("/account/settings", True),
        ("/admin/users/1", True),
        ("/accountant", False),
        ("/products", False),
        ("/", False),
    ],
)
def test_protected_prefixes_match_whole_segments(config, uri, expected):
    assert config.is_protected(uri) is expected


def test_config_round_trips_through_the_bundled_file(config, tmp_path):
    path = tmp_path / auth_validation.CONFIG_FILE
    path.write_text(json.dumps(config.to_json()))

    assert auth_validation.load_config(path) == config


def test_config_refuses_bad_values(issuer, jwks):
    with pytest.raises(ValueError, match="issuer"):
        AuthConfig(issuer="", jwks=jwks)
    with pytest.raises(ValueError, match="RS256 signing key"):
        AuthConfig(issuer=issuer, jwks={"keys": []})
    with pytest.raises(ValueError, match="must start with"):
        AuthConfig(issuer=issuer, jwks=jwks, protected_prefixes=("account",))
