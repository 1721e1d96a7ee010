"""Build once, promote everywhere: a release is built into one content-addressed artifact and
the same bytes go to every environment.

A project with an ``artifact`` source is released as a deterministic zip (:func:`build_zip`),
kept in an :class:`ArtifactStore` under its sha256. An infrastructure project has no build:
it is promoted as a *revision* of its definition (:func:`revision`), a digest of the project's
model and of the local files its steps use (a terraform dir, a sync source, a shell cwd).

::

    PromoteError                 PRM000
    └── ArtifactError            PRM045  no source, nothing to build, or a corrupt stored artifact
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

from promote.errors import PromoteError
from promote.model.project import Project
from promote.model.steps import S3Sync, ShellStep, TerraformStep

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
ZIP_MODE = 0o644 << 16
# What a definition revision never includes: caches and tool state that change without an
# edit (terraform init, terraform apply with local state, Python bytecode, a git checkout).
REVISION_EXCLUDE = (
    "**/__pycache__/**",
    "**/*.pyc",
    "**/.git/**",
    "**/.terraform/**",
    "**/*.tfstate",
    "**/*.tfstate.backup",
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactError(PromoteError):
    """The artifact cannot be built or read: no source, no files, or bytes that changed."""

    code = "PRM045"


@dataclass(frozen=True)
class Artifact:
    """One release of a project: the zip's (or the definition's) digest, and how to name it."""

    project: str
    sha256: str
    label: str
    size: int
    kind: Literal["zip", "revision"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Artifact:
        try:
            kind = data["kind"]
            if kind not in ("zip", "revision"):
                raise ValueError(f"unknown kind {kind!r}")
            return cls(
                project=str(data["project"]),
                sha256=str(data["sha256"]),
                label=str(data["label"]),
                size=int(data["size"]),
                kind=cast(Literal["zip", "revision"], kind),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"not an artifact record ({exc}): {dict(data)!r}") from exc


# --- globs ------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A glob on a POSIX path: ``*``, ``?`` and ``[...]`` stay within one name, ``**`` as a
    whole name matches any number of directories (zero included), and at the end everything
    below."""
    parts = pattern.strip("/").split("/")
    regex = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += _segment(part) + ("" if last else "/")
    return re.compile(regex + r"\Z", re.DOTALL)


def _segment(part: str) -> str:
    out, i = "", 0
    while i < len(part):
        char = part[i]
        close = part.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif close != -1:
            body = part[i + 1 : close]
            negate = body[:1] in ("!", "^")
            body = re.escape(body[1:] if negate else body).replace(r"\-", "-")
            out += f"[{'^/' if negate else ''}{body}]"
            i = close
        else:
            out += re.escape(char)
        i += 1
    return out


def matches(path: str, patterns: Sequence[str]) -> bool:
    """Whether the POSIX ``path`` matches any of the globs."""
    return any(_glob(p).match(path) for p in patterns)


def _files(root: Path, include: Sequence[str], exclude: Sequence[str]) -> list[tuple[str, Path]]:
    """(POSIX name below root, path) of the selected regular files, sorted by name."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            path = Path(folder, name)
            relative = path.relative_to(root).as_posix()
            if path.is_file() and matches(relative, include) and not matches(relative, exclude):
                found.append((relative, path))
    return sorted(found)


# --- the zip ----------------------------------------------------------------------------


def build_zip(source: Path, include: Sequence[str], exclude: Sequence[str]) -> bytes:
    """The files under ``source`` matching ``include`` and not ``exclude``, as a zip whose bytes
    depend only on the files' names and contents: no dates, modes, owners or directories."""
    if not source.is_dir():
        raise ArtifactError(f"artifact source {source} is not a directory")
    files = _files(source, include, exclude)
    if not files:
        raise ArtifactError(
            f"artifact source {source} has no file matching include {list(include)} "
            f"and not exclude {list(exclude)}"
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = ZIP_MODE
            info.create_system = 3  # unix, whichever system builds it
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


class ArtifactStore:
    """Artifacts by digest: ``<root>/<sha256>.zip`` and its ``<root>/<sha256>.json`` record."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, project: str, data: bytes) -> Artifact:
        """Store ``data`` (again: a no-op) and return its artifact."""
        digest = hashlib.sha256(data).hexdigest()
        artifact = Artifact(project, digest, f"sha-{digest[:12]}", len(data), "zip")
        self.root.mkdir(parents=True, exist_ok=True)
        zipped = self._path(digest, ".zip")
        if not (zipped.is_file() and hashlib.sha256(zipped.read_bytes()).hexdigest() == digest):
            _write_atomic(zipped, data)
        record = self._path(digest, ".json")
        if not record.is_file():
            _write_atomic(record, json.dumps(artifact.to_json(), sort_keys=True).encode())
        return artifact

    def get(self, sha256: str) -> Artifact:
        record = self._path(sha256, ".json")
        try:
            data = json.loads(record.read_text())
        except FileNotFoundError:
            raise ArtifactError(f"no artifact {sha256} in {self.root}") from None
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"the record of artifact {sha256} is unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise ArtifactError(f"the record of artifact {sha256} is not an object")
        return Artifact.from_json(data)

    def read(self, sha256: str) -> bytes:
        """The artifact's bytes, checked against its digest."""
        path = self._path(sha256, ".zip")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"no artifact {sha256} in {self.root}") from None
        found = hashlib.sha256(data).hexdigest()
        if found != sha256:
            raise ArtifactError(f"artifact {path} is corrupt: its bytes hash to {found}")
        return data

    def _path(self, sha256: str, suffix: str) -> Path:
        if not _SHA256.match(sha256):
            raise ArtifactError(f"not a sha256 digest: {sha256!r}")
        return self.root / f"{sha256}{suffix}"


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a part."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


# --- releases of a project --------------------------------------------------------------


def build(project: Project, estate_dir: Path, store: ArtifactStore) -> Artifact:
    """Build the project's artifact once and store it."""
    spec = project.artifact
    if spec is None:
        raise ArtifactError(f"project {project.name} has no `artifact:` to build")
    data = build_zip(estate_dir / spec.source, spec.include, spec.exclude)
    return store.put(project.name, data)


def revision(project: Project, estate_dir: Path) -> Artifact:
    """The project's definition as a release: the same model and local files give the same
    revision, and any edit to either a new one."""
    digest = hashlib.sha256()
    definition = json.dumps(project.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest.update(b"definition\0" + definition.encode() + b"\0")
    for reference, root in _local_dirs(project, estate_dir):
        digest.update(f"dir\0{reference}\0".encode())
        for name, path in _files(root, ["**"], REVISION_EXCLUDE):
            data = path.read_bytes()
            digest.update(f"file\0{name}\0{len(data)}\0".encode() + data)
    hexdigest = digest.hexdigest()
    return Artifact(project.name, hexdigest, f"rev-{hexdigest[:12]}", 0, "revision")


def _local_dirs(project: Project, estate_dir: Path) -> Iterator[tuple[str, Path]]:
    """(reference, directory) of the existing local directories the steps name."""
    references: set[str] = set()
    for step in [*project.steps, *project.rollback]:
        if isinstance(step, TerraformStep):
            references.add(step.dir)
        elif isinstance(step, S3Sync):
            references.add(step.source)
        elif isinstance(step, ShellStep) and step.cwd:
            references.add(step.cwd)
    for reference in sorted(references):
        path = estate_dir / reference
        if "${" not in reference and path.is_dir():
            yield reference, path
