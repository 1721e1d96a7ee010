"""The engine on a real promotion: BBWS DEV -> SIT in the sandbox, with zero bake time.

Runs the demo twice, each in a fresh sandbox: once with the engine's parallelism (at most
--per-account projects in one account at once), once with --per-account 1, which runs the
same steps one project after another. It reports the SIT run's wall time in both, the time
its projects waited for people (the demo approves as soon as a project waits), and the
speedup.

    python bench/promotion.py [--per-account 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from promote.sandbox.demo import run_demo

ROOT = Path(__file__).resolve().parents[1]
ESTATE = ROOT / "estates" / "bbws"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-account", type=int, default=4)
    args = parser.parse_args()
    figures = {}
    for label, limit in (("parallel", args.per_account), ("one after another", 1)):
        with tempfile.TemporaryDirectory(prefix="promote-bench-") as scratch:
            state = Path(scratch) / "demo"
            code, runs = run_demo(ESTATE, state, 0.0, until="sit", per_account=limit)
            if code != 0 or len(runs) != 2:
                print(f"the {label} demo failed (exit {code})")
                return 1
            journal = state / "sandbox" / "engine" / "runs" / runs[1] / "journal.jsonl"
            figures[label] = _timings(journal)
    parallel, serial = figures["parallel"], figures["one after another"]
    print("\nBBWS SIT promotion (after DEV), zero bake time, 7 projects (ecs_terraform skipped):")
    for label, value in figures.items():
        print(
            f"  {label:18} wall {value['wall']:6.2f} s, of which projects waited for people "
            f"{value['waiting']:5.2f} s (summed over projects)"
        )
    print(f"  speedup {serial['wall'] / parallel['wall']:.2f}x on the run's wall time")
    return 0


def _timings(journal: Path) -> dict[str, float]:
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    times = [_time(e) for e in events]
    waiting = 0.0
    since: dict[str, datetime] = {}
    for event, at in zip(events, times, strict=True):
        project = event.get("project")
        if event["kind"] != "project.phase" or not project:
            continue
        if project in since:
            waiting += (at - since.pop(project)).total_seconds()
        if event["data"]["phase"] == "WaitingForApproval":
            since[project] = at
    return {"wall": (times[-1] - times[0]).total_seconds(), "waiting": waiting}


def _time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["time"])


if __name__ == "__main__":
    sys.exit(main())
