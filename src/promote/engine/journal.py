"""The audit record of a run: an append-only, hash-chained JSON-lines journal.

Each line is one event in canonical JSON (sorted keys, no spaces). ``prev`` is the sha256 of
the previous line's bytes and ``hash`` the sha256 of the event without its ``hash``, so
editing any byte of any line is caught at that line by :func:`verify`.

Appends carry a key. The engine appends from inside DBOS steps, and a step that was cut off
by a crash before its checkpoint runs again on recovery: appending a key that is already in
the journal is a no-op, so the event is written once. Several processes may append (the
worker, and ``promote abort`` from another terminal), so appends hold an exclusive lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
REDACTED = "***"
# Header and field names whose values are credentials, compared case-insensitively.
SENSITIVE_NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-amz-security-token",
        "password",
        "secret",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
    }
)


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Redactor:
    """Replaces secret values wherever they occur in strings, and the values of sensitive
    header or field names, with ``***``. Applied to every event before it is written."""

    def __init__(self, secrets: Iterable[str] = (), names: Iterable[str] = SENSITIVE_NAMES):
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.names = frozenset(n.lower() for n in names)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                str(k): REDACTED if str(k).lower() in self.names else self(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
        return value


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    bad_seq: int | None = None  # the first line that does not verify, counting from 1
    reason: str | None = None


class Journal:
    """One run's journal file. Safe for threads and processes through an flock."""

    def __init__(self, path: Path, redactor: Redactor | None = None) -> None:
        self.path = path
        self.redact = redactor or Redactor()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(
        self, key: str, kind: str, project: str | None = None, data: Mapping[str, Any] | None = None
    ) -> bool:
        """Append an event unless one with ``key`` exists. Returns whether it was written."""
        with self._locked() as handle:
            tail = _tail_of(self.path, handle)
            if key in tail.keys:
                return False
            event = {
                "seq": tail.count + 1,
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "run_id": self.path.parent.name,
                "key": key,
                "kind": kind,
                "project": project,
                "data": self.redact(dict(data or {})),
                "prev": tail.last,
            }
            event["hash"] = sha256(canonical(event))
            line = canonical(event)
            handle.write(line + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            tail.add(key, line)
            return True

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            return [json.loads(line) for line in _complete_lines(handle, repair=False)]

    def _locked(self) -> _Lock:
        return _Lock(self.path)


class _Lock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        self.handle = self.path.open("a+b")
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
        return self.handle

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        self.handle.close()


@dataclass
class _Tail:
    """What an append needs of a journal: its keys, length and last line's hash. Kept
    between appends while the file's size says nobody else wrote to it, so an append does
    not read the whole journal again (that made a run's appends quadratic in its steps)."""

    size: int
    count: int
    last: str
    keys: set[str]

    def add(self, key: str, line: bytes) -> None:
        self.size += len(line) + 1
        self.count += 1
        self.last = sha256(line)
        self.keys.add(key)


_tails: dict[Path, _Tail] = {}


def _tail_of(path: Path, handle: Any) -> _Tail:
    """Called under the journal's lock."""
    size = handle.seek(0, os.SEEK_END)
    known = _tails.get(path)
    if known is not None and known.size == size:
        return known
    lines = _complete_lines(handle)
    keys = {json.loads(line).get("key") for line in lines}
    end = handle.seek(0, os.SEEK_END)
    tail = _Tail(end, len(lines), sha256(lines[-1]) if lines else GENESIS, keys)
    _tails[path] = tail
    return tail


def _complete_lines(handle: Any, repair: bool = True) -> list[bytes]:
    """The journal's lines. A last line without its newline was torn by a crash during the
    write; the step that wrote it never completed, so it runs again and rewrites the event.
    Appends (``repair``) cut the torn tail off, so the chain stays intact."""
    handle.seek(0)
    content: bytes = handle.read()
    complete, _, torn = content.rpartition(b"\n")
    if torn and repair:
        handle.truncate(len(complete) + 1 if complete else 0)
    return complete.split(b"\n") if complete else []


def verify(path: Path) -> VerifyResult:
    """Checks every line: canonical form, sequence, the chain, and its own hash."""
    if not path.exists():
        return VerifyResult(False, 0, None, f"no journal at {path}")
    content = path.read_bytes()
    if content and not content.endswith(b"\n"):
        count = content.count(b"\n") + 1
        return VerifyResult(False, count, count, "the last line is incomplete")
    prev = GENESIS
    lines = content.split(b"\n")[:-1] if content else []
    for seq, line in enumerate(lines, start=1):
        reason = _line_problem(line, seq, prev)
        if reason:
            return VerifyResult(False, len(lines), seq, reason)
        prev = sha256(line)
    return VerifyResult(True, len(lines))


def _line_problem(line: bytes, seq: int, prev: str) -> str | None:
    try:
        event = json.loads(line)
    except ValueError:
        return "not valid JSON"
    if not isinstance(event, dict):
        return "not an event"
    # Canonical form first: it pins every byte, whitespace included, to this line.
    if canonical(event) != line:
        return "not in canonical form (edited?)"
    return _chain_problem(event, seq, prev)


def _chain_problem(event: dict[str, Any], seq: int, prev: str) -> str | None:
    if event.get("seq") != seq:
        return f"sequence number {event.get('seq')!r} where {seq} was expected"
    if event.get("prev") != prev:
        return "does not chain to the previous event"
    body = {k: v for k, v in event.items() if k != "hash"}
    if event.get("hash") != sha256(canonical(body)):
        return "hash does not match the event"
    return None


def iter_kind(events: Iterable[Mapping[str, Any]], kind: str) -> Iterator[Mapping[str, Any]]:
    return (e for e in events if e.get("kind") == kind)
