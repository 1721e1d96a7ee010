"""The heap keeper frees garbage, freezes what survives its sweeps (so later collections
skip it), and gives the process back its usual collections when stopped."""

from __future__ import annotations

import gc
import time
import weakref

from promote.sandbox.heap import HeapKeeper


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_a_sweep_frees_garbage_then_freezes_the_survivors() -> None:
    keeper = HeapKeeper(interval=3600)
    keeper.start()
    try:
        kept = [Node() for _ in range(1000)]
        garbage = [weakref.ref(Node()) for _ in range(1000)]
        before = gc.get_freeze_count()

        keeper.sweep()

        assert all(ref() is None for ref in garbage)
        assert gc.get_freeze_count() >= before + len(kept)
        assert keeper.sweeps == 1
        assert keeper.longest_pause_s > 0  # the sweep's own collection, timed
    finally:
        keeper.stop()
    assert gc.get_freeze_count() == 0


def test_the_keeper_sweeps_on_its_own() -> None:
    keeper = HeapKeeper(interval=0.05)
    keeper.start()
    try:
        deadline = time.monotonic() + 5
        while keeper.sweeps < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert keeper.sweeps >= 2
        assert gc.get_freeze_count() > 0
    finally:
        keeper.stop()
    assert gc.get_freeze_count() == 0
