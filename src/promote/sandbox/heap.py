"""Keeps the sandbox's garbage collections short while moto's state grows.

Moto keeps every log event, metric datum and item in this process: at 100 requests a second
that is millions of objects within the hour. Python's full collection walks all of them,
holding the GIL for a second or more, and while it does, the gateway answers nobody: the
traffic times out, and metrics arrive late. What moto stores is never garbage, so every
``interval`` the keeper collects what is new since its last sweep and then freezes what
survived (:func:`gc.freeze`): later collections walk only what came after. The pauses it
sees are kept, for benchmarks to report.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

SWEEP_INTERVAL_S = 30.0


class HeapKeeper:
    def __init__(self, interval: float = SWEEP_INTERVAL_S) -> None:
        self._interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None
        self.longest_pause_s = 0.0  # the longest collection seen, sweeps included
        self.sweeps = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        gc.callbacks.append(self._timed)
        self._thread = threading.Thread(target=self._run, name="promote-heap", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping and unfreeze: the process collects as usual again."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None
        gc.callbacks.remove(self._timed)
        gc.unfreeze()

    def sweep(self) -> None:
        gc.collect()
        gc.freeze()
        self.sweeps += 1

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.sweep()

    def _timed(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started_at = time.perf_counter()
        elif self._started_at is not None:
            pause = time.perf_counter() - self._started_at
            self.longest_pause_s = max(self.longest_pause_s, pause)
            self._started_at = None
