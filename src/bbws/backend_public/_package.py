"""Zip the edge functions: deterministic bytes, so an unchanged function keeps its CodeSha256.

Each zip holds ``bbws/edge/<module>.py`` and the edge modules it imports; ``auth-validation``
also holds its ``auth_config.json`` and PyJWT, rsa and pyasn1, copied from the installed
distributions (their RECORD, via importlib.metadata). All three are pure Python, so the auth
zip is about 0.15 MB and loads on any CPython the runtime has.

Two checks run here, before any AWS call, because CloudFront or Lambda would otherwise only
fail at association time or, worse, on the first request at the edge:

* size: CloudFront refuses functions over 1 MB (compressed) on viewer triggers, 50 MB on
  origin triggers;
* binaries: every bundled distribution's wheel tags must fit the Lambda runtime (CPython ABI,
  glibc, x86_64, the only architecture Lambda@Edge runs). The bundled ones are pure
  (``py3-none-any``) and pass; the check stops a compiled one (``cryptography``, whose Rust
  extension alone is 4.5 MB) from slipping back in.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata, resources
from pathlib import Path
from typing import Final

from bbws.edge.auth_validation import CONFIG_FILE, AuthConfig

from ._spec import PackagingError

_MB: Final = 1024 * 1024
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: timestamps must not vary
_SKIP: Final = re.compile(r"(^|/)__pycache__/|\.pyc$|\.pyi$|(^|/)py\.typed$")

# Amazon Linux 2 backs python3.9-3.11, Amazon Linux 2023 python3.12+.
RUNTIME_GLIBC: Final[Mapping[str, int]] = {
    "python3.9": 26,
    "python3.10": 26,
    "python3.11": 26,
    "python3.12": 34,
    "python3.13": 34,
}


class Trigger(StrEnum):
    VIEWER_REQUEST = "viewer-request"
    ORIGIN_REQUEST = "origin-request"
    VIEWER_RESPONSE = "viewer-response"

    @property
    def max_zip_bytes(self) -> int:
        return 50 * _MB if self is Trigger.ORIGIN_REQUEST else 1 * _MB


class Scope(StrEnum):
    """Which cache behaviours a function is associated with."""

    ALL = "all"
    DEFAULT = "default"  # the SPA and its assets
    PROTECTED = "protected"  # the protected prefixes: the token check on viewer-request


@dataclass(frozen=True)
class EdgeFunction:
    slug: str
    handler: str
    trigger: Trigger
    scope: Scope
    modules: tuple[str, ...]
    # distribution -> the top-level paths of it that the function imports at run time
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def name(self, env: str) -> str:
        return f"bbws-{self.slug}-{env}"


EDGE_FUNCTIONS: Final = (
    EdgeFunction(
        "security-headers",
        "bbws.edge.security_headers.handler",
        Trigger.VIEWER_RESPONSE,
        Scope.ALL,
        ("_cloudfront", "security_headers"),
    ),
    EdgeFunction(
        "url-rewrite",
        "bbws.edge.url_rewrite.handler",
        Trigger.ORIGIN_REQUEST,
        Scope.ALL,  # protected routes are SPA routes too
        ("_cloudfront", "url_rewrite"),
    ),
    EdgeFunction(
        "auth-validation",
        "bbws.edge.auth_validation.handler",
        Trigger.VIEWER_REQUEST,
        Scope.PROTECTED,
        # redirects is bundled because this is the protected behaviours' one viewer-request
        # function and applies the redirect rules before the token check.
        ("_cloudfront", "security_headers", "redirects", "_rs256", "auth_validation"),
        {
            "PyJWT": ("jwt/",),
            "rsa": ("rsa/",),
            # rsa's declared dependency; only its ASN.1 key-file loaders import it, which the
            # edge does not use, but a partial rsa would break on the first one that does.
            "pyasn1": ("pyasn1/",),
        },
    ),
    EdgeFunction(
        "redirects",
        "bbws.edge.redirects.handler",
        Trigger.VIEWER_REQUEST,
        Scope.DEFAULT,  # the protected behaviours' viewer-request is auth-validation
        ("_cloudfront", "security_headers", "redirects"),
    ),
)


@dataclass(frozen=True)
class EdgePackage:
    function: EdgeFunction
    zip_bytes: bytes = field(repr=False)

    @property
    def code_sha256(self) -> str:
        """As Lambda reports it: base64 of the SHA-256 of the zip."""
        return base64.b64encode(hashlib.sha256(self.zip_bytes).digest()).decode("ascii")


def package_all(
    auth: AuthConfig, runtime: str, *, check_binaries: bool = True
) -> list[EdgePackage]:
    if runtime not in RUNTIME_GLIBC:
        raise PackagingError(f"runtime {runtime!r} is not one of {', '.join(RUNTIME_GLIBC)}")
    return [package(f, auth, runtime, check_binaries=check_binaries) for f in EDGE_FUNCTIONS]


def package(
    function: EdgeFunction, auth: AuthConfig, runtime: str, *, check_binaries: bool = True
) -> EdgePackage:
    files = dict(_edge_sources(function))
    base = b""
    if function.dependencies:
        if check_binaries:
            for dist_name in function.dependencies:
                _check_binaries(function, dist_name, runtime)
        files[f"bbws/edge/{CONFIG_FILE}"] = _config_bytes(auth)
        base = _dependencies_zip(tuple(function.dependencies.items()))
    built = EdgePackage(function, _zip(files, base))
    limit = function.trigger.max_zip_bytes
    if len(built.zip_bytes) > limit:
        raise PackagingError(
            f"{function.slug} zip is {len(built.zip_bytes) / _MB:.1f} MB; CloudFront allows "
            f"{limit // _MB} MB for {function.trigger} functions"
        )
    return built


def _edge_sources(function: EdgeFunction) -> Iterator[tuple[str, bytes]]:
    edge = resources.files("bbws.edge")
    # An empty top-level package: bbws/__init__.py may grow imports the edge cannot load.
    yield "bbws/__init__.py", b""
    yield "bbws/edge/__init__.py", edge.joinpath("__init__.py").read_bytes()
    for module in function.modules:
        yield f"bbws/edge/{module}.py", edge.joinpath(f"{module}.py").read_bytes()


def _config_bytes(auth: AuthConfig) -> bytes:
    return json.dumps(auth.to_json(), indent=2, sort_keys=True).encode("utf-8")


def _distribution(name: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError as exc:
        raise PackagingError(f"{name} is not installed; the edge auth function needs it") from exc


def _distribution_files(name: str, prefixes: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
    dist = _distribution(name)
    for record in dist.files or ():
        path = record.as_posix()
        if path.startswith(prefixes) and not _SKIP.search(path):
            yield path, Path(str(dist.locate_file(record))).read_bytes()


@functools.cache
def _dependencies_zip(dependencies: tuple[tuple[str, tuple[str, ...]], ...]) -> bytes:
    # The installed distributions do not change within a process, and tests package often:
    # read and compress them once.
    files: dict[str, bytes] = {}
    for dist_name, prefixes in dependencies:
        files.update(_distribution_files(dist_name, prefixes))
    return _zip(files)


def _zip(files: Mapping[str, bytes], base: bytes = b"") -> bytes:
    """A zip of ``files`` in name order, appended to the zip ``base`` when given."""
    buffer = io.BytesIO(base)
    with zipfile.ZipFile(buffer, "a" if base else "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


# --- native code against the Lambda runtime ------------------------------------------------

_MANYLINUX: Final = re.compile(r"manylinux_2_(\d+)_x86_64")
_LEGACY_MANYLINUX: Final = {
    "manylinux1_x86_64": 5,
    "manylinux2010_x86_64": 12,
    "manylinux2014_x86_64": 17,
}


def _check_binaries(function: EdgeFunction, dist_name: str, runtime: str) -> None:
    dist = _distribution(dist_name)
    tags = wheel_tags(dist.read_text("WHEEL") or "")
    if not any(tag_fits(tag, runtime) for tag in tags):
        raise PackagingError(
            f"{function.slug}: the installed {dist_name} {dist.version} is built for "
            f"{', '.join(tags) or 'an unknown platform'}, which the {runtime} Lambda runtime "
            f"(x86_64, glibc 2.{RUNTIME_GLIBC[runtime]}) cannot load. Run the deploy from a "
            f"CPython {runtime.removeprefix('python')} environment on linux/x86_64 so the "
            f"installed wheels match the runtime."
        )


def wheel_tags(wheel_metadata: str) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in wheel_metadata.splitlines()
        if line.startswith("Tag:")
    ]


def tag_fits(tag: str, runtime: str) -> bool:
    """Whether a wheel tag (``cp311-abi3-manylinux_2_34_x86_64``) loads on a Lambda runtime."""
    python, abi, platforms = tag.split("-", 2)
    minor = int(runtime.removeprefix("python3."))
    glibc = RUNTIME_GLIBC[runtime]
    return _abi_fits(python, abi, minor) and any(
        _platform_fits(p, glibc) for p in platforms.split(".")
    )


def _abi_fits(python: str, abi: str, minor: int) -> bool:
    if abi == "none":
        return True
    built_for = int(python.removeprefix("cp3")) if python.startswith("cp3") else None
    if abi == "abi3":
        return built_for is not None and built_for <= minor
    return abi == f"cp3{minor}"


def _platform_fits(platform: str, glibc: int) -> bool:
    if platform == "any":
        return True
    match = _MANYLINUX.fullmatch(platform)
    needed = int(match.group(1)) if match else _LEGACY_MANYLINUX.get(platform)
    return needed is not None and needed <= glibc
