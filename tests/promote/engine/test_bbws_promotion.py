"""The issue's end-to-end check: BBWS promoted to DEV, then ``promote run sit estates/bbws
--sandbox``, as ``make demo`` does it (the real CLI in subprocesses, approvals by the demo
identities). SIT runs the same artifacts DEV ran, the seeds' smoke tests are in the report,
and the journal verifies until one byte of it is edited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from promote.engine.ledger import Ledger
from promote.sandbox.demo import run_demo

ROOT = Path(__file__).resolve().parents[3]
BBWS = ROOT / "estates" / "bbws"
LAMBDAS = ("campaigns_lambda", "product_lambda", "order_lambda")


@pytest.fixture
def environ() -> Iterator[None]:
    # The demo points this process at its sandbox's profiles and sets its run inputs.
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def promote(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promote", *args], capture_output=True, text=True, check=False
    )


def test_bbws_promoted_to_dev_then_sit_in_the_sandbox(tmp_path: Path, environ: None) -> None:
    code, runs = run_demo(BBWS, tmp_path / "demo", 0.0, until="sit")
    assert code == 0
    dev, sit = runs
    engine = tmp_path / "demo" / "sandbox" / "engine"

    # Build once, promote everywhere: SIT holds exactly the zips DEV ran.
    deployed = Ledger(engine).current()
    for project in LAMBDAS:
        assert deployed[("sit", project)].sha256 == deployed[("dev", project)].sha256
        assert deployed[("sit", project)].artifact["kind"] == "zip"
        assert deployed[("sit", project)].run_id == sit
    assert ("sit", "ecs_terraform") not in deployed  # not in the sandbox, with its reason

    done = promote("report", sit, "--state-dir", str(engine), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["run"]["phase"] == "Succeeded" and report["run"]["verification"]["intact"]
    products = next(p for p in report["projects"] if p["name"] == "product_lambda")
    tests = {t["name"]: t["result"] for t in products["smoke_tests"]}
    assert tests["Test 3 create product"] == "passed"
    assert tests["Test 10 CloudFront image delivery"] == "passed"
    assert len(tests) == 11 and set(tests.values()) == {"passed"}
    ecs = next(p for p in report["projects"] if p["name"] == "ecs_terraform")
    assert ecs["phase"] == "Skipped" and "not in the sandbox" in ecs["reason"]

    assert promote("verify", sit, "--state-dir", str(engine)).returncode == 0
    journal = engine / "runs" / sit / "journal.jsonl"
    content = bytearray(journal.read_bytes())
    at = content.index(b"Test 3 create product")
    content[at] = ord("t")
    journal.write_bytes(bytes(content))
    broken = promote("verify", sit, "--state-dir", str(engine))
    assert broken.returncode == 1 and "PRM043 journal broken at event" in broken.stderr
    assert dev.startswith("dev-") and sit.startswith("sit-")
