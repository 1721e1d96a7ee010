from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from promote.loader import load_estate


def messages(root: Path) -> list[str]:
    result = load_estate(root)
    return [d.format() for d in result.locate(result.diagnostics)]


def test_valid_folder_loads(write_estate: Callable[..., Path]) -> None:
    result = load_estate(write_estate())
    assert result.diagnostics == []
    assert result.estate is not None
    assert [p.name for p in result.estate.projects] == ["api", "tables"]
    assert result.estate.projects[0].origin.endswith("projects/api.yaml")


def test_unknown_key_names_position_and_suggests(write_estate: Callable[..., Path]) -> None:
    text = "name: api\nkind: generic\nwave: apps\ndependson: [tables]\n"
    root = write_estate(projects={"api": text})
    [line] = messages(root)
    assert line.endswith(
        "projects/api.yaml:4:1: S001 error: unknown key `dependson` (did you mean `depends_on`?)"
        " (at dependson)"
    )


def test_unknown_key_inside_a_tagged_union(write_estate: Callable[..., Path]) -> None:
    text = "name: api\nkind: generic\nwave: apps\nsteps:\n  - kind: lambda.deploy\n    functon: f\n"
    [missing, unknown] = messages(write_estate(projects={"api": text}))
    assert "5:5: S003 error: missing required key `function` (at steps[0])" in missing
    assert "6:5: S001 error: unknown key `functon` (did you mean `function`?)" in unknown


def test_unknown_step_kind_suggests(write_estate: Callable[..., Path]) -> None:
    text = "name: api\nkind: generic\nwave: apps\nsteps:\n  - kind: lambda.deplyo\n"
    [line] = messages(write_estate(projects={"api": text}))
    assert "5:11: S004 error: unknown kind `lambda.deplyo` (did you mean `lambda.deploy`?)" in line


def test_wrong_type_and_bad_enum(write_estate: Callable[..., Path]) -> None:
    text = "name: api\nkind: lamda-api\nwave: apps\ndepends_on: tables\nestimate: [1]\n"
    lines = messages(write_estate(projects={"api": text}))
    assert any(
        "2:7: S004 error: invalid value `lamda-api` (did you mean `lambda-api`?)" in x
        for x in lines
    )
    assert any(
        "4:13: S002 error: expected a list, found `tables` (at depends_on)" in x for x in lines
    )


def test_malformed_yaml_reports_position(write_estate: Callable[..., Path]) -> None:
    root = write_estate(projects={"api": "name: api\nkind: [generic\nwave: apps\n"})
    [line] = messages(root)
    assert "projects/api.yaml:" in line and ": L001 error: invalid YAML" in line


def test_duplicate_key_is_an_error(write_estate: Callable[..., Path]) -> None:
    root = write_estate(projects={"api": "name: api\nkind: generic\nwave: apps\nname: other\n"})
    [line] = messages(root)
    assert (
        "projects/api.yaml:4:1: L003 error: duplicate key `name` (first written at line 1)" in line
    )


def test_empty_and_non_mapping_files(write_estate: Callable[..., Path]) -> None:
    root = write_estate(projects={"a": "", "b": "- just\n- a list\n"})
    lines = messages(root)
    assert any(
        "a.yaml:1:1: L004 error: expected a mapping of keys, found an empty file" in x
        for x in lines
    )
    assert any("b.yaml:1:1: L004 error: expected a mapping of keys, found list" in x for x in lines)


def test_missing_folder_and_file(tmp_path: Path) -> None:
    assert "L002 error: estate folder not found" in messages(tmp_path / "nope")[0]
    (tmp_path / "projects").mkdir()
    lines = messages(tmp_path)
    assert any("estate.yaml:1:1: L002 error: file not found: estate.yaml" in x for x in lines)


def test_no_projects_is_a_warning(write_estate: Callable[..., Path]) -> None:
    root = write_estate(projects={})
    result = load_estate(root)
    assert [d.code for d in result.diagnostics] == ["L006"]
    assert result.estate is not None


def test_unquoted_account_id_explains(write_estate: Callable[..., Path], spec: dict) -> None:
    spec["environments"]["dev"]["account_id"] = 536580886816
    [line] = messages(write_estate(spec=spec))
    assert "S004 error: account id must be quoted" in line
    assert "(at environments.dev.account_id)" in line


def test_every_bad_file_is_reported_at_once(write_estate: Callable[..., Path]) -> None:
    root = write_estate(projects={"a": "name: a\n", "b": "name: b\nkind: generic\nwave: w\nx: 1\n"})
    codes = sorted(d.code for d in load_estate(root).diagnostics)
    assert codes == ["S001", "S003", "S003"]  # a lacks kind and wave; b has an unknown key


def test_bad_utf8_is_reported(write_estate: Callable[..., Path]) -> None:
    root = write_estate()
    (root / "projects" / "bad.yaml").write_bytes(b"name: \xff\xfe\n")
    assert any("L005 error: cannot read file" in x for x in messages(root))
