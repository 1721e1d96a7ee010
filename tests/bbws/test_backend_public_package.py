"""Edge function zips: contents, determinism, limits, and that they run with nothing else."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bbws.backend_public import (
    EDGE_FUNCTIONS,
    EdgeFunction,
    PackagingError,
    Scope,
    Trigger,
    package_all,
)
from bbws.backend_public._package import _dependencies_zip, package, tag_fits, wheel_tags
from bbws.edge.auth_validation import AuthConfig

EVENTS = Path(__file__).parent / "events" / "cloudfront"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_SitPool01"


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def auth(key):
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return AuthConfig(issuer=ISSUER, jwks={"keys": [{**public, "kid": "k1", "alg": "RS256"}]})


@pytest.fixture(scope="module")
def packages(auth):
    # check_binaries stays on: every bundled distribution is pure Python.
    return {p.function.slug: p for p in package_all(auth, "python3.12")}


def _names(package):
    return set(zipfile.ZipFile(io.BytesIO(package.zip_bytes)).namelist())


def test_each_behaviour_has_one_function_per_trigger_and_all_four_are_used():
    layout = {
        scope: {f.trigger: f.slug for f in EDGE_FUNCTIONS if f.scope in (Scope.ALL, scope)}
        for scope in (Scope.DEFAULT, Scope.PROTECTED)
    }
    for scope in (Scope.DEFAULT, Scope.PROTECTED):
        triggers = [f.trigger for f in EDGE_FUNCTIONS if f.scope in (Scope.ALL, scope)]
        assert sorted(triggers) == sorted(set(triggers)), scope
    assert layout[Scope.DEFAULT] == {
        Trigger.VIEWER_REQUEST: "redirects",
        Trigger.ORIGIN_REQUEST: "url-rewrite",
        Trigger.VIEWER_RESPONSE: "security-headers",
    }
    assert layout[Scope.PROTECTED] == {
        Trigger.VIEWER_REQUEST: "auth-validation",
        Trigger.ORIGIN_REQUEST: "url-rewrite",
        Trigger.VIEWER_RESPONSE: "security-headers",
    }
    assert {f.name("sit") for f in EDGE_FUNCTIONS} == {
        "bbws-security-headers-sit",
        "bbws-url-rewrite-sit",
        "bbws-auth-validation-sit",
        "bbws-redirects-sit",
    }


def test_small_functions_hold_only_their_modules(packages):
    assert _names(packages["redirects"]) == {
        "bbws/__init__.py",
        "bbws/edge/__init__.py",
        "bbws/edge/_cloudfront.py",
        "bbws/edge/security_headers.py",
        "bbws/edge/redirects.py",
    }
    for slug in ("redirects", "security-headers", "url-rewrite"):
        assert len(packages[slug].zip_bytes) < 20_000


def test_auth_function_bundles_config_redirects_and_pure_python_dependencies(packages, auth):
    names = _names(packages["auth-validation"])
    archive = zipfile.ZipFile(io.BytesIO(packages["auth-validation"].zip_bytes))

    assert json.loads(archive.read("bbws/edge/auth_config.json")) == auth.to_json()
    assert {n for n in names if n.startswith("bbws/")} == {
        "bbws/__init__.py",
        "bbws/edge/__init__.py",
        "bbws/edge/_cloudfront.py",
        "bbws/edge/_rs256.py",
        "bbws/edge/auth_config.json",
        "bbws/edge/auth_validation.py",
        "bbws/edge/redirects.py",  # the redirect rules run first, from the same zip
        "bbws/edge/security_headers.py",
    }
    assert {n.split("/", 1)[0] for n in names} == {"bbws", "jwt", "rsa", "pyasn1"}
    assert {"jwt/__init__.py", "rsa/__init__.py", "pyasn1/__init__.py"} <= names
    assert not any("__pycache__" in n or n.endswith((".pyc", ".pyi")) for n in names)


def test_auth_zip_is_small_pure_python_and_fits_a_viewer_trigger(packages):
    auth_zip = packages["auth-validation"]
    names = _names(auth_zip)

    assert auth_zip.function.trigger is Trigger.VIEWER_REQUEST
    assert len(auth_zip.zip_bytes) < 1024 * 1024 == Trigger.VIEWER_REQUEST.max_zip_bytes
    assert len(auth_zip.zip_bytes) < 256 * 1024  # well under: room for JWKS rotations
    compiled = (".so", ".pyd", ".dylib", ".dll")
    assert not [n for n in names if n.endswith(compiled) or ".so." in n]
    assert not any(n.startswith(("cryptography/", "cffi/", "_cffi_backend")) for n in names)


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13", "python3.11"])
def test_binary_check_passes_for_the_lambda_runtimes(auth, runtime):
    built = {p.function.slug: p for p in package_all(auth, runtime, check_binaries=True)}

    assert built["auth-validation"].function.dependencies.keys() == {"PyJWT", "rsa", "pyasn1"}


def test_packages_are_deterministic(auth, packages):
    _dependencies_zip.cache_clear()  # rebuild from the installed files, as a new process would
    again = {p.function.slug: p for p in package_all(auth, "python3.12")}

    assert {s: p.code_sha256 for s, p in again.items()} == {
        s: p.code_sha256 for s, p in packages.items()
    }


def test_auth_config_change_changes_only_the_auth_zip(auth, packages):
    wider = AuthConfig(
        issuer=auth.issuer, jwks=auth.jwks, protected_prefixes=(*auth.protected_prefixes, "/me")
    )
    again = {p.function.slug: p for p in package_all(wider, "python3.12")}

    changed = {s for s in again if again[s].code_sha256 != packages[s].code_sha256}
    assert changed == {"auth-validation"}


def _with_cryptography(trigger):
    """The auth function as it was: PyJWT's RS256 on cryptography (compiled, ~4.5 MB)."""
    return EdgeFunction(
        "auth-validation",
        "bbws.edge.auth_validation.handler",
        trigger,
        Scope.PROTECTED,
        ("_cloudfront", "security_headers", "redirects", "_rs256", "auth_validation"),
        {"PyJWT": ("jwt/",), "cryptography": ("cryptography/",), "cffi": ("_cffi_backend.",)},
    )


def test_a_viewer_trigger_zip_over_1_mb_is_refused(auth):
    # Why the auth zip must not bundle cryptography: it would not fit a viewer trigger.
    # (Binary check off: this venv's cffi would be refused first, and the size is the point.)
    function = _with_cryptography(Trigger.VIEWER_REQUEST)

    with pytest.raises(PackagingError, match=r"allows 1 MB for viewer-request"):
        package(function, auth, "python3.12", check_binaries=False)


def _run_from_zip(tmp_path, package, script, stdin):
    zipfile.ZipFile(io.BytesIO(package.zip_bytes)).extractall(tmp_path)
    # -I -S: no site-packages, no user paths; only the zip's contents and the stdlib.
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {script}"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


RUN_HANDLER = (
    "import json, importlib; handler = getattr(importlib.import_module({!r}), {!r}); "
    "print(json.dumps(handler(json.load(sys.stdin), None)))"
)


def test_auth_zip_runs_on_its_own_without_cryptography(tmp_path, packages, key):
    token = jwt.encode(
        {"iss": ISSUER, "token_use": "id", "exp": int(time.time()) + 300},
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    event = json.loads((EVENTS / "viewer-request-protected-page.json").read_text())
    headers = event["Records"][0]["cf"]["request"]["headers"]
    www = json.loads((EVENTS / "viewer-request-account-www.json").read_text())
    # The proof that rsa, not cryptography, verified the token: it is not importable here.
    script = (
        "import importlib.util; assert importlib.util.find_spec('cryptography') is None; "
        + RUN_HANDLER.format("bbws.edge.auth_validation", "handler")
    )
    auth_zip = packages["auth-validation"]

    headers["cookie"].append({"key": "Cookie", "value": f"id_token={token}"})
    sent = json.dumps(event)
    allowed = _run_from_zip(tmp_path, auth_zip, script, sent)
    headers["cookie"].pop()
    refused = _run_from_zip(tmp_path, auth_zip, script, json.dumps(event))
    moved = _run_from_zip(tmp_path, auth_zip, script, json.dumps(www))

    assert allowed == json.loads(sent)["Records"][0]["cf"]["request"]  # passed on unchanged
    assert refused["status"] == "401"
    assert refused["headers"]["www-authenticate"][0]["value"] == "Bearer"
    assert moved["status"] == "301"
    assert moved["headers"]["location"][0]["value"] == "https://kimmyai.io/account/orders?tab=open"


def test_redirects_zip_runs_with_the_standard_library_only(tmp_path, packages):
    event = (EVENTS / "viewer-request-www.json").read_text()
    script = RUN_HANDLER.format("bbws.edge.redirects", "handler")

    response = _run_from_zip(tmp_path, packages["redirects"], script, event)

    assert response["headers"]["location"][0]["value"] == "https://kimmyai.io/x?y=1"


@pytest.mark.parametrize(
    ("tag", "runtime", "fits"),
    [
        ("cp311-abi3-manylinux_2_34_x86_64", "python3.12", True),
        ("cp311-abi3-manylinux_2_34_x86_64", "python3.11", False),  # AL2 has glibc 2.26
        ("cp311-cp311-manylinux_2_17_x86_64", "python3.12", False),  # CPython 3.11 ABI only
        ("cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64", "python3.12", True),
        ("cp312-cp312-manylinux2014_x86_64", "python3.12", True),
        ("cp312-cp312-manylinux_2_17_aarch64", "python3.12", False),
        ("cp312-cp312-macosx_11_0_arm64", "python3.12", False),
        ("cp312-cp312-linux_x86_64", "python3.12", False),  # locally built: glibc unknown
        ("py3-none-any", "python3.12", True),
    ],
)
def test_wheel_tags_against_lambda_runtimes(tag, runtime, fits):
    assert tag_fits(tag, runtime) is fits


def test_binary_check_still_refuses_compiled_wheels_the_runtime_cannot_load(auth):
    # The guard against cryptography coming back: its cffi backend here is built for one
    # CPython ABI (cp311 in this venv), which only that Lambda runtime can load.
    function = _with_cryptography(Trigger.ORIGIN_REQUEST)
    cffi_tags = wheel_tags(metadata.distribution("cffi").read_text("WHEEL") or "")
    runtime = next(
        r for r in ("python3.11", "python3.12") if not any(tag_fits(t, r) for t in cffi_tags)
    )

    with pytest.raises(PackagingError, match=re.escape(f"{runtime} Lambda runtime")):
        package(function, auth, runtime)


def test_unknown_runtime_is_refused(auth):
    with pytest.raises(PackagingError, match=r"nodejs20\.x"):
        package_all(auth, "nodejs20.x")
