"""Benchmark: canary analysis on the sandbox, BBWS product_lambda at 100 req/s.

One sandbox holds the BBWS estate, promoted to DEV first. A copy of the estate gives
product_lambda a DEV canary (10% for --bake seconds, then 100%) judged by promote's
analysis. Each trial is a real ``promote run dev --projects product_lambda --sandbox`` (a
new version published, the alias shifted by RoutingConfig, the analysis on CloudWatch
metrics the sandbox's telemetry feeds), under ``promote sandbox traffic --rps 100`` sent to
``https://api.dev.kimmyai.io/v1.0/products``:

- detection: the canary has BBWS_FAULT_ERROR_RATE=0.05; the time from the shift to 10%
  until the alias is back at 100% on the stable version (target p95 <= 15 s over 20 trials);
- false rollbacks: a healthy canary (the same code and settings as stable, only a trial
  number in its environment) held for --bake seconds (target: at most 1 in 100 trials);
- latency: the canary has BBWS_FAULT_LATENCY_MS=2500; time until the p95 trigger (reads,
  1 s) rolls it back (target <= 30 s);
- zero downtime: a healthy 10 -> 50 -> 100 promotion, and the rollbacks above: failed
  requests (5xx, connection errors, dropped) that were not injected faults (target 0).

    python bench/canary.py [--bad 20] [--healthy 100] [--latency 3] [--bake 60]

Prints each trial as it ends and the figures at the end; --json FILE writes them too.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from promote.cli import check_estate
from promote.sandbox import demo
from promote.sandbox.server import Sandbox, write_running

ROOT = Path(__file__).resolve().parents[1]
ESTATE = ROOT / "estates" / "bbws"
PROJECT, FUNCTION = "product_lambda", "product-handler-dev"
RPS = 100
# Reads (list products, the runbook's Test 2) only: every write adds a product that each
# later list scans in moto, and the sandbox's list latency grows with the table until it
# cannot keep 100 req/s (about 150 products in). The faults hit reads as they hit writes.
MIX, CONCURRENCY = "read=1", "64"


@dataclass
class Trial:
    kind: str
    number: int
    phase: str = ""
    shifted_back: float | None = None  # seconds from the shift to 10% to the shift back
    requests: int = 0
    failed_not_injected: int = 0
    injected: int = 0
    client_errors: int = 0
    traffic: dict[str, Any] = field(default_factory=dict)  # the failures, broken down
    gc_pause_s: float = 0.0  # the sandbox's longest garbage collection during the trial
    notes: list[str] = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bad", type=int, default=20, help="error-rate trials")
    parser.add_argument("--healthy", type=int, default=100, help="healthy trials")
    parser.add_argument("--latency", type=int, default=3, help="latency-fault trials")
    parser.add_argument("--bake", type=float, default=60.0, help="the 10% step's bake, s")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", type=Path, help="work here and keep it (runs.log, state)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promote-canary-") as scratch:
        where = args.keep or Path(scratch)
        if args.keep:
            shutil.rmtree(where, ignore_errors=True)
            where.mkdir(parents=True)
        bench = Bench(where, args.bake)
        trials = bench.run(args.bad, args.healthy, args.latency)
    figures = summarise(trials)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(
            json.dumps({"figures": figures, "trials": [t.__dict__ for t in trials]}, indent=2)
        )
    return 0


class Bench:
    def __init__(self, scratch: Path, bake: float) -> None:
        self.scratch = scratch
        self.bake = bake
        self.estate_dir = scratch / "bbws"
        shutil.copytree(ESTATE, self.estate_dir)
        for path in (self.estate_dir / "projects").glob("*.yaml"):
            # The releases are built from this repository's src, wherever the copy is.
            text = path.read_text().replace("source: ../../src", f"source: {ROOT / 'src'}")
            path.write_text(text)
        self.log = scratch / "runs.log"
        self.trial_number = 0

    def run(self, bad: int, healthy: int, latency: int) -> list[Trial]:
        estate, _, _ = check_estate(self.estate_dir)
        assert estate is not None
        state = self.scratch / "state"
        sandbox_dir = state / "sandbox"
        trials: list[Trial] = []
        with Sandbox.for_estate(estate, sandbox_dir) as sandbox:
            write_running(sandbox_dir, sandbox, estate.name, self.estate_dir.resolve())
            demo._use_profiles(sandbox_dir)
            demo._baseline(estate)
            self.runner = demo._Demo(estate, self.estate_dir, sandbox, sandbox_dir, 1.0, 4)
            self.sandbox_dir = sandbox_dir
            self.sandbox = sandbox
            self.canary(steps=[10, 100], bake=0.0)
            if self.runner.promote("dev", log=self.log) != 0:
                tail = self.log.read_text()[-4000:]
                raise SystemExit(f"the DEV promotion failed:\n{tail}")
            self.finish(self.traffic(20))  # warm: worker processes started, caches full
            plan = [("bad", bad), ("latency", latency), ("healthy", healthy), ("full", 1)]
            for kind, count in plan:
                for number in range(1, count + 1):
                    trial = self.trial(kind, number)
                    trials.append(trial)
                    print(json.dumps(trial.__dict__), flush=True)
        return trials

    def canary(self, steps: list[int], bake: float, fault: dict[str, str] | None = None) -> None:
        """Rewrite the copy's product_lambda: a DEV canary, and the deploy's environment."""
        path = self.estate_dir / "projects" / f"{PROJECT}.yaml"
        data = yaml.safe_load(path.read_text())
        self.trial_number += 1
        data["canary"]["dev"] = {
            "steps": [{"weight": w, **({"bake": f"{bake:g}s"} if w < 100 else {})} for w in steps],
            "analysis": {"interval": "1s", "inconclusive": "fail"},
        }
        # What the bench measures is the canary: the smoke tests' 500 ms budgets do not hold
        # on this machine under 100 req/s (the tests still run, and are the traffic's
        # requests), and with reads only, the triggers scoped to writes could never be
        # judged (Inconclusive).
        for test in data["smoke_tests"]:
            test.pop("latency_budget", None)
        data["rollback_triggers"] = [
            t for t in data["rollback_triggers"] if t.get("scope") != "writes"
        ]
        deploy = next(s for s in data["steps"] if s.get("kind") == "lambda.deploy")
        environment = {
            k: v for k, v in deploy["environment"].items() if not k.startswith("BBWS_FAULT")
        }
        environment["BBWS_BENCH_TRIAL"] = str(self.trial_number)  # a version of its own
        deploy["environment"] = {**environment, **(fault or {})}
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def trial(self, kind: str, number: int) -> Trial:
        fault = {
            "bad": {"BBWS_FAULT_ERROR_RATE": "0.05"},
            "latency": {"BBWS_FAULT_LATENCY_MS": "2500"},
        }.get(kind)
        steps = [10, 50, 100] if kind == "full" else [10, 100]
        bake = self.bake if kind in ("healthy", "full") else 120.0
        self.canary(steps, bake, fault)
        self.sandbox.heap.longest_pause_s = 0.0
        expected = 10 + bake * (len(steps) - 1) + 10 if kind in ("healthy", "full") else 60
        traffic = self.traffic(expected)
        time.sleep(2)  # the load is on before the run starts
        before = set(demo._run_ids(self.runner.engine_dir))
        self.runner.promote("dev", projects=PROJECT, log=self.log)
        run_id = next(r for r in demo._run_ids(self.runner.engine_dir) if r not in before)
        report = self.finish(traffic)
        trial = Trial(kind, number, gc_pause_s=round(self.sandbox.heap.longest_pause_s, 3))
        self.measure(trial, run_id)
        self.count(trial, report, faulted=fault is not None)
        return trial

    def traffic(self, seconds: float) -> subprocess.Popen[str]:
        command = [
            *demo.PROMOTE, "sandbox", "traffic", "--env", "dev", "--rps", str(RPS),
            "--duration", f"{seconds:g}", "--project", PROJECT, "--format", "json",
            "--mix", MIX, "--concurrency", CONCURRENCY,
            "--state-dir", str(self.sandbox_dir),
        ]  # fmt: skip
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )

    def finish(self, traffic: subprocess.Popen[str]) -> dict[str, Any]:
        out, _ = traffic.communicate(timeout=600)
        return json.loads(out) if out.strip() else {}

    def measure(self, trial: Trial, run_id: str) -> None:
        journal = self.runner.engine_dir / "runs" / run_id / "journal.jsonl"
        events = [json.loads(line) for line in journal.read_text().splitlines()]
        shifts = [
            (datetime.fromisoformat(e["time"]).timestamp(), e["data"]["item"]["weight"])
            for e in events
            if e["kind"] == "canary.result" and e["project"] == PROJECT
        ]
        phases = [
            e["data"]["phase"]
            for e in events
            if e["kind"] == "project.phase" and e["project"] == PROJECT
        ]
        trial.phase = phases[-1] if phases else "?"
        first = next((t for t, w in shifts if w == 10), None)
        back = next((t for t, w in shifts if w == 0), None)
        if first is not None and back is not None:
            trial.shifted_back = round(back - first, 3)
        verdicts = [e["data"] for e in events if e["kind"] == "analysis.verdict"]
        for verdict in verdicts:
            judged = verdict.get("judgements", [])
            shown = [j["judge"] for j in judged if j["verdict"] == verdict["verdict"]]
            trial.notes.append(f"{verdict.get('weight')}%: {verdict['verdict']} {shown}")

    def count(self, trial: Trial, report: dict[str, Any], *, faulted: bool) -> None:
        if not report:
            trial.notes.append("no traffic report")
            return
        trial.requests = int(report.get("sent", 0))
        errors = report.get("errors", {})
        server, connection = int(errors.get("5xx", 0)), int(errors.get("connection", 0))
        trial.client_errors = int(errors.get("4xx", 0))
        injected = 0
        if faulted:
            # The faulted version is the newest one the traffic saw.
            versions = report.get("by_version", {})
            newest = max(versions, key=lambda v: int(v) if v.isdigit() else -1, default=None)
            if newest is not None:
                injected = int(versions[newest]["errors"]["5xx"])
        trial.injected = injected
        lost = int(report.get("dropped", 0)) + int(report.get("unfinished", 0))
        trial.failed_not_injected = server - injected + connection + lost
        trial.traffic = {
            "5xx": server,
            "connection": connection,
            "dropped": report.get("dropped", 0),
            "unfinished": report.get("unfinished", 0),
            "by_version": {v: s["errors"] for v, s in report.get("by_version", {}).items()},
            "connection_errors": report.get("connection_errors", {}),
            "p95_ms": report.get("latency_ms", {}).get("p95"),
        }


def summarise(trials: list[Trial]) -> dict[str, Any]:
    def of(kind: str) -> list[Trial]:
        return [t for t in trials if t.kind == kind]

    figures: dict[str, Any] = {}
    bad = of("bad")
    times = sorted(t.shifted_back for t in bad if t.shifted_back is not None)
    if bad:
        figures["detection"] = {
            "trials": len(bad),
            "rolled_back": len(times),
            "p50_s": _percentile(times, 50),
            "p95_s": _percentile(times, 95),
            "max_s": times[-1] if times else None,
        }
    healthy = of("healthy")
    if healthy:
        figures["false_rollbacks"] = {
            "trials": len(healthy),
            "rolled_back": sum(1 for t in healthy if t.phase != "Succeeded"),
        }
    slow = of("latency")
    if slow:
        latency = sorted(t.shifted_back for t in slow if t.shifted_back is not None)
        figures["latency"] = {
            "trials": len(slow),
            "rolled_back": len(latency),
            "max_s": latency[-1] if latency else None,
        }
    figures["failed_not_injected"] = {
        kind: sum(t.failed_not_injected for t in of(kind))
        for kind in ("bad", "latency", "healthy", "full")
    }
    figures["requests"] = sum(t.requests for t in trials)
    figures["longest_gc_pause_s"] = max((t.gc_pause_s for t in trials), default=None)
    return figures


def _percentile(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


if __name__ == "__main__":
    sys.exit(main())
