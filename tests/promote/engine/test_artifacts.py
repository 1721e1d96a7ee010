"""Build once, promote everywhere: deterministic zips, the content-addressed store, and
definition revisions of infrastructure projects."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from promote.engine.artifacts import (
    Artifact,
    ArtifactError,
    ArtifactStore,
    build,
    build_zip,
    matches,
    revision,
)
from promote.model import Project

DEFAULT_INCLUDE = ["**/*"]
DEFAULT_EXCLUDE = ["**/__pycache__/**", "**/*.pyc"]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def entries(data: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(data)).infolist()


def project(**extra: Any) -> Project:
    return Project.model_validate({"name": "api", "kind": "generic", "wave": "apps", **extra})


SERVICE = {
    "bbws/__init__.py": "",
    "bbws/handler.py": "def handler(event, context):\n    return {}\n",
    "bbws/services/products.py": "PRODUCTS = []\n",
    "bbws/__pycache__/handler.cpython-311.pyc": "bytecode",
    "bbws/services/__pycache__/products.cpython-311.pyc": "bytecode",
    "bbws/openapi.yaml": "openapi: 3.0.0\n",
    "README.md": "# service\n",
}


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*", "a.py", True),
        ("**/*", "a/b/c.txt", True),
        ("**", "a/b/c.txt", True),
        ("**/__pycache__/**", "__pycache__/x.pyc", True),
        ("**/__pycache__/**", "a/b/__pycache__/x.pyc", True),
        ("**/__pycache__/**", "a/pycache/x.pyc", False),
        ("**/*.pyc", "x.pyc", True),
        ("**/*.pyc", "a/b/x.pyc", True),
        ("**/*.pyc", "a/b/x.py", False),
        ("bbws/**/*.py", "bbws/handler.py", True),
        ("bbws/**/*.py", "bbws/services/deep/products.py", True),
        ("bbws/**/*.py", "other/bbws/handler.py", False),
        ("bbws/**/*.py", "bbws/openapi.yaml", False),
        ("*.py", "handler.py", True),
        ("*.py", "bbws/handler.py", False),  # * stays within one name
        ("bbws/*.py", "bbws/services/products.py", False),
        ("bbws/handler.?y", "bbws/handler.py", True),
        ("[ab]*.md", "README.md", False),
        ("[!ab]*.md", "README.md", True),
        ("bbws/**", "bbws/services/products.py", True),
        ("a+b(c)/*.txt", "a+b(c)/x.txt", True),  # regex characters are literal
    ],
)
def test_globs_match_the_path_below_the_source(pattern: str, path: str, expected: bool) -> None:
    assert matches(path, [pattern]) is expected


def test_the_zip_depends_only_on_names_and_contents(tmp_path: Path) -> None:
    one = write(tmp_path / "one", SERVICE)
    two = write(tmp_path / "two", dict(reversed(list(SERVICE.items()))))
    os.utime(two / "bbws" / "handler.py", (1_900_000_000, 1_900_000_000))
    (two / "bbws" / "handler.py").chmod(0o755)
    (two / "bbws" / "empty-dir").mkdir()

    first = build_zip(one, DEFAULT_INCLUDE, DEFAULT_EXCLUDE)
    assert build_zip(one, DEFAULT_INCLUDE, DEFAULT_EXCLUDE) == first
    assert build_zip(two, DEFAULT_INCLUDE, DEFAULT_EXCLUDE) == first

    infos = entries(first)
    assert [i.filename for i in infos] == [
        "README.md",
        "bbws/__init__.py",
        "bbws/handler.py",
        "bbws/openapi.yaml",
        "bbws/services/products.py",
    ]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr for i in infos} == {0o644 << 16}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert archive.read("bbws/handler.py").decode() == SERVICE["bbws/handler.py"]


def test_any_change_to_a_file_changes_the_zip(tmp_path: Path) -> None:
    source = write(tmp_path / "src", SERVICE)
    before = build_zip(source, DEFAULT_INCLUDE, DEFAULT_EXCLUDE)
    (source / "bbws" / "services" / "products.py").write_text("PRODUCTS = [1]\n")
    assert build_zip(source, DEFAULT_INCLUDE, DEFAULT_EXCLUDE) != before


def test_include_and_exclude_select_the_files(tmp_path: Path) -> None:
    source = write(tmp_path / "src", SERVICE)
    data = build_zip(source, ["bbws/**/*.py"], ["bbws/services/**"])
    assert [i.filename for i in entries(data)] == ["bbws/__init__.py", "bbws/handler.py"]


def test_an_empty_selection_names_the_source_and_globs(tmp_path: Path) -> None:
    source = write(tmp_path / "src", {"README.md": "x"})
    with pytest.raises(ArtifactError) as raised:
        build_zip(source, ["**/*.py"], ["**/*.pyc"])
    message = str(raised.value)
    assert message.startswith("PRM045 ")
    assert str(source) in message and "**/*.py" in message and "**/*.pyc" in message


def test_a_missing_source_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a directory"):
        build_zip(tmp_path / "nowhere", DEFAULT_INCLUDE, DEFAULT_EXCLUDE)


def test_the_store_keeps_bytes_by_digest(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    data = build_zip(write(tmp_path / "src", SERVICE), DEFAULT_INCLUDE, DEFAULT_EXCLUDE)

    artifact = store.put("api", data)
    assert artifact.kind == "zip" and artifact.size == len(data) and artifact.project == "api"
    assert artifact.label == f"sha-{artifact.sha256[:12]}"
    files = sorted(p.name for p in (tmp_path / "artifacts").iterdir())
    assert files == [f"{artifact.sha256}.json", f"{artifact.sha256}.zip"]
    assert store.get(artifact.sha256) == artifact
    assert store.read(artifact.sha256) == data

    stamp = (tmp_path / "artifacts" / f"{artifact.sha256}.zip").stat().st_mtime_ns
    assert store.put("api", data) == artifact  # again: nothing is rewritten
    assert (tmp_path / "artifacts" / f"{artifact.sha256}.zip").stat().st_mtime_ns == stamp
    assert len(list((tmp_path / "artifacts").iterdir())) == 2  # no temporary files left


def test_unknown_and_corrupt_artifacts_are_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    artifact = store.put("api", b"release bytes")
    with pytest.raises(ArtifactError, match="no artifact"):
        store.get("0" * 64)
    with pytest.raises(ArtifactError, match="no artifact"):
        store.read("0" * 64)
    with pytest.raises(ArtifactError, match="not a sha256"):
        store.get("../../etc/passwd")

    (tmp_path / f"{artifact.sha256}.zip").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="corrupt"):
        store.read(artifact.sha256)
    store.put("api", b"release bytes")  # putting the bytes again repairs it
    assert store.read(artifact.sha256) == b"release bytes"

    (tmp_path / f"{artifact.sha256}.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="not an object"):
        store.get(artifact.sha256)


def test_artifacts_round_trip_through_json() -> None:
    artifact = Artifact("api", "ab" * 32, "sha-abababababab", 42, "zip")
    assert Artifact.from_json(artifact.to_json()) == artifact
    with pytest.raises(ArtifactError):
        Artifact.from_json({**artifact.to_json(), "kind": "tarball"})
    with pytest.raises(ArtifactError):
        Artifact.from_json({"project": "api"})


def test_build_zips_the_projects_artifact_source_once(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    write(estate / "services" / "api", SERVICE)
    store = ArtifactStore(tmp_path / "state" / "artifacts")
    api = project(artifact={"source": "services/api", "include": ["bbws/**/*.py"]})

    artifact = build(api, estate, store)
    assert build(api, estate, store) == artifact
    names = [i.filename for i in entries(store.read(artifact.sha256))]
    assert names == ["bbws/__init__.py", "bbws/handler.py", "bbws/services/products.py"]

    with pytest.raises(ArtifactError, match="has no `artifact:`"):
        build(project(), estate, store)
    with pytest.raises(ArtifactError, match="not a directory"):
        build(project(artifact={"source": "services/gone"}), estate, store)


INFRA_STEPS = [
    {"kind": "terraform", "dir": "infra/tables"},
    {"kind": "s3.sync", "source": "site/dist", "bucket": "bbws-frontend-${env}"},
    {"kind": "shell", "command": "make", "cwd": "tools/${env}"},  # not a local reference
    {"kind": "shell", "command": "true", "cwd": "not/there"},  # does not exist: skipped
]


def infra(**extra: Any) -> Project:
    return project(kind="dynamodb-tables", steps=INFRA_STEPS, **extra)


def test_the_same_definition_is_the_same_revision(tmp_path: Path) -> None:
    estate = write(tmp_path / "estate", {"infra/tables/main.tf": "resource {}\n"})
    first = revision(infra(), estate)
    assert first.kind == "revision" and first.size == 0 and first.project == "api"
    assert first.label == f"rev-{first.sha256[:12]}"
    assert revision(infra(), estate) == first
    # Caches and local state are not part of the definition.
    write(
        estate, {"infra/tables/.terraform/providers/aws": "binary", "infra/tables/x.tfstate": "{}"}
    )
    assert revision(infra(), estate) == first
    # Nor are directories no step names.
    write(estate, {"elsewhere/notes.txt": "hello"})
    assert revision(infra(), estate) == first
    # Another estate directory with the same files gives the same revision.
    other = write(tmp_path / "copy", {"infra/tables/main.tf": "resource {}\n"})
    assert revision(infra(), other) == first


def test_any_edit_is_a_new_revision(tmp_path: Path) -> None:
    estate = write(tmp_path / "estate", {"infra/tables/main.tf": "resource {}\n"})
    seen = {revision(infra(), estate).sha256}

    def changed() -> None:
        digest = revision(infra(), estate).sha256
        assert digest not in seen
        seen.add(digest)

    (estate / "infra" / "tables" / "main.tf").write_text("resource { changed }\n")
    changed()
    write(estate, {"infra/tables/variables.tf": "variable {}\n"})
    changed()
    write(estate, {"site/dist/index.html": "<html></html>"})
    changed()
    (estate / "infra" / "tables" / "variables.tf").rename(estate / "infra" / "tables" / "vars.tf")
    changed()
    digest = revision(infra(vars={"table": "products"}), estate).sha256
    assert digest not in seen
