"""The journal: a hash chain any edit breaks, idempotent appends, and no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promote.engine.journal import Journal, Redactor, sha256, verify


def write(path: Path, count: int = 5) -> Journal:
    journal = Journal(path)
    for n in range(count):
        journal.append(f"k{n}", "step.result", "api", {"n": n, "summary": f"step {n} ok"})
    return journal


def test_a_written_chain_verifies(tmp_path: Path) -> None:
    path = tmp_path / "run-1" / "journal.jsonl"
    events = write(path).events()

    assert verify(path).ok
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[0]["run_id"] == "run-1"
    lines = path.read_bytes().splitlines()
    assert [e["prev"] for e in events[1:]] == [sha256(line) for line in lines[:-1]]


@pytest.mark.parametrize("line", [1, 3, 5])
def test_editing_one_byte_fails_verify_at_that_event(tmp_path: Path, line: int) -> None:
    path = tmp_path / "r" / "journal.jsonl"
    write(path)
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = lines[line - 1].replace(b'"step ', b'"Step ', 1)
    path.write_bytes(b"\n".join(lines))

    result = verify(path)

    assert not result.ok
    assert result.bad_seq == line


def test_every_single_byte_edit_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "r" / "journal.jsonl"
    write(path, count=2)
    original = path.read_bytes()
    for index in range(len(original)):
        edited = bytearray(original)
        edited[index] = ord("x") if edited[index] != ord("x") else ord("y")
        path.write_bytes(bytes(edited))
        assert not verify(path).ok, f"an edit at byte {index} went unnoticed"


def test_a_removed_event_breaks_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "r" / "journal.jsonl"
    write(path)
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:2] + lines[3:]))

    assert verify(path).bad_seq == 3


def test_appending_an_existing_key_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "r" / "journal.jsonl"
    journal = write(path, count=2)

    assert journal.append("k1", "step.result", "api", {"n": "again"}) is False
    assert journal.append("k2", "step.result", "api", {"n": 2}) is True
    assert [e["key"] for e in journal.events()] == ["k0", "k1", "k2"]
    assert verify(path).ok


def test_a_line_torn_by_a_crash_is_dropped_on_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "r" / "journal.jsonl"
    journal = write(path, count=2)
    with path.open("ab") as handle:
        handle.write(b'{"seq":3,"half')
    assert not verify(path).ok

    journal.append("k2", "step.result", "api", {"n": 2})

    assert verify(path).ok
    assert [e["seq"] for e in journal.events()] == [1, 2, 3]


def test_secrets_and_credential_headers_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "r" / "journal.jsonl"
    journal = Journal(path, Redactor(secrets=["hunter2"]))
    journal.append(
        "k",
        "smoke.result",
        "api",
        {
            "request": {"headers": {"Authorization": "Bearer abc.def", "Accept": "json"}},
            "log": ["login with hunter2 as admin"],
            "x-api-key": "k-123",
        },
    )

    text = path.read_text()
    data = json.loads(text)["data"]
    assert "hunter2" not in text and "abc.def" not in text and "k-123" not in text
    assert data["request"]["headers"] == {"Authorization": "***", "Accept": "json"}
    assert data["log"] == ["login with *** as admin"]
    assert verify(path).ok
