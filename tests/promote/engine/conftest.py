"""The engine tests' fixture: a real DBOS engine (SQLite under tmp_path) with a fake executor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promote.engine.plan import DEFAULT_PER_ACCOUNT
from promote.engine.runs import Engine

from . import FakeExecutor, Make


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    """An engine on ``tmp_path / state`` with a fake executor; DBOS is one per process, so
    making another closes the one before (a worker replaced by the next)."""
    engines: list[Engine] = []

    def make_engine(
        state: str = "state", per_account: int = DEFAULT_PER_ACCOUNT, **fake: Any
    ) -> tuple[Engine, FakeExecutor]:
        while engines:
            engines.pop().close()
        executor = FakeExecutor(**fake)
        engine = Engine(
            tmp_path / state, executor=executor, secrets=["s3cr3t-token"], per_account=per_account
        )
        engines.append(engine)
        return engine, executor

    yield make_engine
    for engine in engines:
        engine.close()
