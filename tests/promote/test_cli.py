"""The CLI is the boundary: exit codes, formats, one-line errors, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from promote.cli import main

from .conftest import SPEC


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_valid_estate(write_estate: Callable[..., Path], capsys) -> None:
    code, out, _ = run(capsys, "validate", str(write_estate()))
    assert code == 0
    assert "✓ shop is valid" in out


def test_validate_invalid_estate_exits_2_with_located_errors(write_estate, capsys) -> None:
    root = write_estate(projects={"api": "name: api\nkind: generic\nwave: apps\ndepend_on: []\n"})
    code, out, err = run(capsys, "validate", str(root))
    assert code == 2
    assert "projects/api.yaml:4:1: S001 error: unknown key `depend_on`" in out
    assert "Traceback" not in out + err


def test_validate_json(write_estate, capsys) -> None:
    root = write_estate(projects={"api": "name: api\nkind: generic\nwave: nope\n"})
    code, out, _ = run(capsys, "validate", str(root), "--format", "json")
    data = json.loads(out)
    assert code == 2 and data["valid"] is False and data["errors"] == 1
    [d] = [d for d in data["diagnostics"] if d["severity"] == "error"]
    assert (d["code"], d["line"], d["column"], d["path"]) == ("V011", 3, 7, "wave")


def test_strict_turns_warnings_into_errors(write_estate, capsys) -> None:
    root = write_estate(
        projects={
            "api": {"name": "api", "kind": "generic", "wave": "apps"},
            "x": {"name": "x", "kind": "generic", "wave": "infra", "depends_on": ["api"]},
        }
    )
    assert run(capsys, "validate", str(root))[0] == 2  # V003: x depends on a later wave
    root = write_estate(
        projects={
            "api": {
                "name": "api",
                "kind": "generic",
                "wave": "apps",
                "depends_on": [{"project": "t"}],
            },
            "t": {"name": "t", "kind": "generic", "wave": "infra"},
        }
    )
    assert run(capsys, "validate", str(root))[0] == 0
    code, out, _ = run(capsys, "validate", str(root), "--strict")
    assert code == 2 and "V017 error" in out


def test_plan_table_json_mermaid(write_estate, capsys) -> None:
    root = str(write_estate())
    code, out, _ = run(capsys, "plan", "prod", root)
    assert code == 0 and "Execution layers" in out and "Critical path" in out
    code, out, _ = run(capsys, "plan", "prod", root, "-f", "json")
    assert code == 0 and json.loads(out)["layers"] == [["tables"], ["api"]]
    code, out, _ = run(capsys, "plan", "prod", root, "--format=mermaid")
    assert code == 0 and "tables --> api" in out


def test_plan_refuses_an_invalid_estate(write_estate, capsys) -> None:
    root = write_estate(
        projects={
            "api": {"name": "api", "kind": "generic", "wave": "apps", "depends_on": ["ghost"]}
        }
    )
    code, _, err = run(capsys, "plan", "prod", str(root))
    assert code == 2
    assert "V001 error" in err and "PRM010 the estate is invalid: 1 error(s)" in err
    code, out, _ = run(capsys, "plan", "prod", str(root), "--format", "json")
    body = json.loads(out)["error"]
    assert code == 2 and body["code"] == "PRM010"
    assert "V001" in [d["code"] for d in body["diagnostics"]]


def test_unknown_environment_is_a_one_line_failure(write_estate, capsys) -> None:
    code, _, err = run(capsys, "plan", "qa", str(write_estate()))
    assert code == 1
    assert err.strip().splitlines() == ["PRM002 unknown environment `qa`; the estate has dev, prod"]


def test_usage_errors_exit_1(capsys) -> None:
    assert run(capsys, "plan")[0] == 1
    assert run(capsys, "validate", "--bogus")[0] == 1
    assert run(capsys)[0] == 0  # bare `promote` shows help


def test_debug_reraises(write_estate, capsys) -> None:
    from promote.errors import UnknownEnvironment

    with pytest.raises(UnknownEnvironment):
        main(["--debug", "plan", "qa", str(write_estate())])


def test_malformed_yaml_never_tracebacks(tmp_path: Path, capsys) -> None:
    (tmp_path / "projects").mkdir()
    (tmp_path / "estate.yaml").write_text("name: [unclosed\n")
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == 2 and "L001 error: invalid YAML" in out and "Traceback" not in out + err


def test_version(capsys) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("promote ")


def test_spec_constant_is_untouched() -> None:
    assert SPEC["name"] == "shop"
