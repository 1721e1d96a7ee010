"""``make demo``: BBWS promoted DEV -> SIT -> PROD in the sandbox, approvals and all.

    python -m promote.sandbox.demo estates/bbws [--time-scale 0.0002]

1. starts a sandbox (the estate's three accounts, Lambda runtime, gateway, CDN) and lays
   down what the runbooks assume exists before a promotion (:mod:`bbws.sandbox_baseline`);
2. runs ``promote run dev``: the releases are built once (the Lambda zips, the
   definitions' revisions) and everything is deployed;
3. ``promote run sit``, then ``promote run prod`` with the canary policy: the same
   artifacts, each approval given by one of the estate's demo identities, printed as given;
4. prints the status matrix and the reports' paths, and stops the sandbox.

The runs are the real CLI in a subprocess, as a user would start them; this process is
the sandbox and the people who approve.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from bbws import sandbox_baseline
from promote.engine.errors import ApprovalRefused, UnknownRun
from promote.engine.plan import DEFAULT_PER_ACCOUNT
from promote.engine.runs import RunControl
from promote.engine.status import RunStatus
from promote.errors import UsageError
from promote.model import Estate
from promote.sandbox.server import Sandbox, config_paths, write_running

STARTED_BY = "tebogo"  # the runbooks' author (estate.yaml, devops_lead)
PROMOTE = [sys.executable, "-m", "promote"]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code, _ = run_demo(
        Path(args.estate), Path(args.state_dir), args.time_scale, args.until, args.per_account
    )
    return code


def run_demo(
    estate_dir: Path,
    state_dir: Path,
    time_scale: float,
    until: str | None = None,
    per_account: int = DEFAULT_PER_ACCOUNT,
) -> tuple[int, list[str]]:
    """The demo: the exit code of the last run and the ids of the runs, in order."""
    from promote.cli import check_estate

    estate, _, _ = check_estate(estate_dir)
    if estate is None:
        print(f"{estate_dir} is not a valid estate: run `promote validate {estate_dir}`")
        return 2, []
    state = state_dir.resolve()
    sandbox_dir = state / "sandbox"
    _fresh(state)
    started = time.monotonic()
    say(f"BBWS demo: time scale {time_scale:g} (bake and soak times x{time_scale:g})")
    with Sandbox.for_estate(estate, sandbox_dir) as sandbox:
        write_running(sandbox_dir, sandbox, estate.name, estate_dir.resolve())
        _use_profiles(sandbox_dir)
        _baseline(estate)
        demo = _Demo(estate, estate_dir, sandbox, sandbox_dir, time_scale, per_account)
        code = demo.promote_all(until)
        demo.summary()
    say(f"sandbox stopped; demo took {time.monotonic() - started:.0f} s")
    return code, demo.runs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m promote.sandbox.demo")
    parser.add_argument("estate", help="the estate folder, e.g. estates/bbws")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.0002,
        help="multiply bake and soak times by this (0.0002: SIT's 48 h soak takes 35 s)",
    )
    parser.add_argument("--state-dir", default=".promote/demo", help="emptied first")
    parser.add_argument("--until", help="stop after promoting into this environment")
    parser.add_argument(
        "--per-account", type=int, default=DEFAULT_PER_ACCOUNT, help="projects at once"
    )
    return parser


def say(text: str) -> None:
    print(f"== {text}", flush=True)


def _fresh(state: Path) -> None:
    import shutil

    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)


def _use_profiles(sandbox_dir: Path) -> None:
    config, credentials = config_paths(sandbox_dir)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = str(config)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)


def _baseline(estate: Estate) -> None:
    say("laying down what the runbooks assume exists (zones, certificates, PROD's VPC, ...)")
    for name, env in estate.spec.environments.items():
        session = boto3.Session(profile_name=env.credentials.profile, region_name=env.region)
        made = sandbox_baseline.lay_down(
            session,
            sandbox_baseline.Environment(
                name, env.region, env.domain, env.api_domain, env.production
            ),
            make_vpc=_vpc_with_id,
        )
        print(f"   {name}: {len(made)} resources ({', '.join(made[:3])}, ...)")


def _vpc_with_id(ec2: Any, vpc_id: str, name: str, cidr: str) -> None:
    """Moto draws VPC ids at random; the runbook's precondition names its VPC by id. The
    emulator runs in this process, so its id source is pointed at that id for one call."""
    from moto.ec2.models import vpcs

    if ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]:
        return
    draw = vpcs.__dict__["random_vpc_id"]
    setattr(vpcs, "random_vpc_id", lambda: vpc_id)  # noqa: B010
    try:
        tags = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}]
        ec2.create_vpc(CidrBlock=cidr, TagSpecifications=tags)
    finally:
        setattr(vpcs, "random_vpc_id", draw)  # noqa: B010


class _Demo:
    def __init__(
        self,
        estate: Estate,
        estate_dir: Path,
        sandbox: Sandbox,
        sandbox_dir: Path,
        scale: float,
        per_account: int,
    ) -> None:
        self.estate = estate
        self.estate_dir = estate_dir
        self.sandbox = sandbox
        self.sandbox_dir = sandbox_dir
        self.engine_dir = sandbox_dir / "engine"
        self.scale = scale
        self.per_account = per_account
        self.runs: list[str] = []
        os.environ["BBWS_CURSOR_KEY"] = secrets.token_urlsafe(36)

    def promote_all(self, until: str | None = None) -> int:
        for env in self.estate.spec.promotion_path:
            code = self.promote(env)
            if code != 0:
                say(f"the {env} run ended with exit code {code}; stopping")
                return code
            if env == until:
                break
        return 0

    def promote(self, env: str, projects: str | None = None, log: Path | None = None) -> int:
        """``promote run ENV`` (of ``projects`` only, if given), approving as it waits; its
        output goes to ``log`` when given (the benchmarks' many runs)."""
        say(f"promote run {env} {self.estate_dir} --sandbox")
        issuers = self.sandbox.services.issuers if self.sandbox.services else None
        assert issuers is not None
        os.environ["BBWS_TOKEN"] = issuers.mint(env, tenant="demo", groups=("admin",))
        command = [
            *PROMOTE,
            "run",
            env,
            str(self.estate_dir),
            "--sandbox",
            "--sandbox-state-dir",
            str(self.sandbox_dir),
            "--secret",
            "token=BBWS_TOKEN",
            "--secret",
            "cursor_key=BBWS_CURSOR_KEY",
            "--time-scale",
            f"{self.scale:g}",
            "--started-by",
            STARTED_BY,
            "--per-account",
            str(self.per_account),
            *(["--projects", projects] if projects else []),
        ]
        known = set(_run_ids(self.engine_dir))
        with log.open("a") if log else contextlib.nullcontext() as output:
            code = self._run(command, known, output)
        self.runs += [r for r in _run_ids(self.engine_dir) if r not in known]
        return code

    def _run(self, command: list[str], known: set[str], output: Any) -> int:
        process = subprocess.Popen(command, stdout=output, stderr=output)
        control = RunControl(self.engine_dir)
        try:
            while process.poll() is None:
                fresh = [r for r in _run_ids(self.engine_dir) if r not in known]
                if fresh:
                    self._approve_waiting(control, fresh[0])
                time.sleep(0.05)
        finally:
            control.close()
        return process.returncode

    def _approve_waiting(self, control: RunControl, run_id: str) -> None:
        try:
            status = control.status(run_id)
        except UnknownRun:  # its folder is there, its first event not yet
            return
        for project, entry in status.projects.items():
            if entry.waiting_for:
                self._approve(control, status, project)

    def _approve(self, control: RunControl, status: RunStatus, project: str) -> None:
        entry = status.projects[project]
        roles = self.estate.spec.roles
        for need in entry.requirements:
            people = roles[need["role"]].people if need.get("role") else _everyone(self.estate)
            for person in people:
                if person == status.started_by or person in entry.approvers:
                    continue
                try:
                    control.approve(status.run_id, project, person, "demo identity")
                except ApprovalRefused:
                    continue
                except UsageError:  # the gate closed since the status was read: look again
                    return
                print(f"   demo: {person} ({need['title']}) approves {project}", flush=True)
                return

    def summary(self) -> None:
        say("what is deployed where: promote status")
        subprocess.run(
            [
                *PROMOTE,
                "status",
                "--state-dir",
                str(self.engine_dir),
                "--estate",
                str(self.estate_dir),
            ],
            check=False,
        )
        for run_id in self.runs:
            path = self.engine_dir / "runs" / run_id / "report.html"
            subprocess.run(
                [*PROMOTE, "report", run_id, "--state-dir", str(self.engine_dir),
                 "--format", "html", "--output", str(path)],
                check=False, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            print(f"   report of {run_id}: {path}")


def _everyone(estate: Estate) -> list[str]:
    return sorted({p for role in estate.spec.roles.values() for p in role.people})


def _run_ids(engine_dir: Path) -> list[str]:
    root = engine_dir / "runs"
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir()), key=lambda r: r.rsplit("-", 1)[-1])


if __name__ == "__main__":
    sys.exit(main())
