"""What to run for a call: the function's configuration read from moto, and its code on disk.

Moto's API does not serve code bytes, so the runtime reads moto's in-process backend (the
emulator runs in this process). It reads afresh on every call (dictionary lookups), so an
alias or configuration changed by any client takes effect on the next call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import random
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from promote.sandbox.errors import SandboxError
from promote.sandbox.invocation import FunctionRef

LATEST = "$LATEST"


class FunctionNotFound(SandboxError):
    """No such function, version or alias in that account and region."""


class InvalidCode(SandboxError):
    """The function's code package cannot be unpacked safely."""


@dataclass(frozen=True)
class FunctionSpec:
    """One version's code and configuration: what a worker starts from.

    Workers are shared by equal specs. Anything that changes (new code or settings on
    ``$LATEST``) makes a new spec, so the change gets fresh workers, as in Lambda."""

    account_id: str
    region: str
    name: str
    version: str  # "$LATEST" or a number
    code_sha256: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: float
    environment: tuple[tuple[str, str], ...]
    code: bytes = field(compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Resolved:
    spec: FunctionSpec
    reserved_concurrency: int | None  # None: the function has no reserved concurrency


def resolve(function: FunctionRef, rng: random.Random) -> Resolved:
    """The version to run for ``function`` (drawing an alias's weights from ``rng``).

    Raises :class:`FunctionNotFound`."""
    from moto.awslambda.exceptions import LambdaClientError

    backend = _backend(function)
    try:
        latest = backend.get_function(function.name)
        version = _route(backend, function, rng)
        chosen = latest if version == LATEST else backend.get_function(function.name, version)
    except LambdaClientError as error:
        raise FunctionNotFound(error.message) from error
    if chosen is None or latest is None:  # moto keeps a deleted $LATEST as None
        raise FunctionNotFound(f"{function.arn}: function not found")
    reserved = latest.reserved_concurrency  # moto keeps it on $LATEST only
    return Resolved(_spec(function, chosen, version), None if reserved is None else int(reserved))


def _backend(function: FunctionRef) -> Any:
    from moto.awslambda.models import lambda_backends

    try:
        return lambda_backends[function.account_id][function.region]
    except KeyError as error:
        raise FunctionNotFound(f"{function.arn}: no such region") from error


def _route(backend: Any, function: FunctionRef, rng: random.Random) -> str:
    """The version a call runs: the alias's weights are drawn as Lambda draws them."""
    qualifier = function.qualifier
    if qualifier is None or qualifier == LATEST:
        return LATEST
    if qualifier.isdigit():  # alias names cannot be all digits
        return qualifier
    alias = backend.get_alias(qualifier, function.name)
    routing = alias.routing_config if isinstance(alias.routing_config, dict) else {}
    draw = rng.random()
    for version, weight in (routing.get("AdditionalVersionWeights") or {}).items():
        if draw < float(weight):
            return str(version)
        draw -= float(weight)
    return str(alias.function_version)


def _spec(function: FunctionRef, moto_function: Any, version: str) -> FunctionSpec:
    env = moto_function.environment_vars or {}
    return FunctionSpec(
        account_id=function.account_id,
        region=function.region,
        name=moto_function.function_name,
        version=version,
        code_sha256=moto_function.code_sha_256,
        handler=moto_function.handler or "",
        runtime=moto_function.run_time or "python3.11",
        memory_mb=int(moto_function.memory_size),
        timeout_s=float(moto_function.timeout),
        environment=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        code=moto_function.code_bytes,
    )


_EXTRACTING = threading.Lock()


def code_dir(work_dir: Path, spec: FunctionSpec) -> Path:
    """``work_dir/code/<sha256>``, the spec's code unpacked (once). Raises :class:`InvalidCode`."""
    target = work_dir / "code" / _hex_digest(spec)
    if target.is_dir():
        return target
    with _EXTRACTING:
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Unpacked beside it then renamed: a worker never sees half a package.
        staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=target.parent))
        try:
            extract(spec.code, staging)
            try:
                staging.rename(target)
            except OSError:
                if not target.is_dir():  # else another process unpacked it first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _hex_digest(spec: FunctionSpec) -> str:
    try:  # Lambda's CodeSha256 is base64, which may hold "/"
        digest = base64.b64decode(spec.code_sha256, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    return digest.hex() if len(digest) == 32 else hashlib.sha256(spec.code).hexdigest()


def extract(code: bytes, destination: Path) -> None:
    """Unpack a code zip into ``destination``, refusing any entry that would land outside."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(code))
    except zipfile.BadZipFile as error:
        raise InvalidCode(f"the code package is not a zip file ({len(code)} bytes)") from error
    with archive:
        root = destination.resolve()
        for entry in archive.infolist():
            _check_entry(entry.filename, root)
            written = Path(archive.extract(entry, root))
            mode = (entry.external_attr >> 16) & 0o777
            if mode and not entry.is_dir():
                os.chmod(written, mode | 0o400)


def _check_entry(name: str, root: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    escapes = path.is_absolute() or ".." in path.parts
    if escapes or not (root / path).resolve().is_relative_to(root):
        raise InvalidCode(f"the code package entry {name!r} escapes the code directory")
