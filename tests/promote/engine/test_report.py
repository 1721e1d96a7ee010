"""The deployment log (``promote report``): from the journals of real runs (a fake executor
on a real DBOS), and from events written by hand where times must be exact or the kinds are
ones the workflow does not write yet."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from promote.engine import report as report_module
from promote.engine.journal import GENESIS, Journal, VerifyResult, verify
from promote.engine.ports import StepOutcome, Target
from promote.engine.report import ProjectReport, Report, build_report, parse_events, render
from promote.engine.runs import Engine
from promote.engine.workflow import journal_path
from promote.model import SmokeTest

from . import FakeExecutor, build, project, shell, shop_projects

INTACT = VerifyResult(True, 0)


class HttpFake(FakeExecutor):
    """Answers smoke tests as the real executor does: the request and the reply's status
    and latency are the outcome's evidence."""

    def smoke_test(self, target: Target, test: SmokeTest) -> StepOutcome:
        outcome = super().smoke_test(target, test)
        status = 500 if test.name in self.fail else 201 if test.method == "POST" else 200
        url = test.url.replace("${api_domain}", target.variables["api_domain"])
        evidence = {"method": test.method, "url": url, "status": status, "latency_ms": 12.5}
        return StepOutcome(outcome.passed, outcome.summary, evidence, outcome.outputs)


def estate_with_approval() -> Any:
    """The shop, with `site` needing a Tech Lead in SIT."""
    site = project(
        "site", "apps", "api", approvals={"sit": ["tech_lead"]}, steps=[shell("site-deploy")]
    )
    return build([*shop_projects()[:3], site])


@pytest.fixture(scope="module")
def journals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Two real runs on one engine: one approved and succeeded in SIT, one in DEV whose
    `api-get` smoke test fails, so `api` rolls back."""
    state = tmp_path_factory.mktemp("report") / "state"
    fake = HttpFake(outputs={"api-create": {"order_id": "o-42"}})
    engine = Engine(state, executor=fake, secrets=["s3cr3t-token"])
    try:
        approved = engine.start_run(estate_with_approval(), "sit", started_by="ann")
        _until_waiting(engine, approved, "site")
        engine.approve(approved, "site", "bob", comment="LGTM")
        assert engine.wait(approved, timeout=30).phase.value == "Succeeded"
        fake.fail = {"api-get"}
        failed = engine.start_run(estate_with_approval(), "dev", started_by="cy")
        assert engine.wait(failed, timeout=30).phase.value == "Failed"
    finally:
        engine.close()
    yield {
        "approved": journal_path(state, approved),
        "rolled_back": journal_path(state, failed),
    }


def _until_waiting(engine: Engine, run_id: str, project_name: str) -> None:
    deadline = time.monotonic() + 20
    while engine.status(run_id).projects[project_name].phase.value != "WaitingForApproval":
        assert time.monotonic() < deadline, engine.status(run_id)
        time.sleep(0.02)


def report_of(path: Path) -> Report:
    return build_report(Journal(path).events(), verify(path))


def named(report: Report, name: str) -> ProjectReport:
    return next(p for p in report.projects if p.name == name)


def section(markdown: str, project_name: str, title: str) -> str:
    """The text of one `### title` section of one project in the Markdown log."""
    heading = re.search(rf"^## \d+\. {re.escape(project_name)}: ", markdown, re.MULTILINE)
    assert heading, project_name
    start = heading.start()
    start = markdown.index(f"### {title}\n", start)
    end = min(
        i for i in (markdown.find("\n### ", start + 1), markdown.find("\n## ", start + 1)) if i > 0
    )
    return markdown[start:end]


def row(text: str, *cells: str) -> str:
    """The table row of ``text`` that holds all of ``cells``."""
    found = [line for line in text.splitlines() if all(f"| {c} |" in line for c in cells)]
    assert len(found) == 1, (cells, text)
    return found[0]


# -- real runs -----------------------------------------------------------------------------


def test_a_succeeded_runs_log_has_its_header_and_each_smoke_test_with_its_status(
    journals: dict[str, Path],
) -> None:
    report = report_of(journals["approved"])
    markdown = render(report, "md")

    assert report.run.phase == "Succeeded"
    assert [p.name for p in report.projects] == ["docs", "tables", "api", "site"]  # layer order
    header = markdown.split("## Projects")[0]
    assert f"# Deployment Log: {report.run.run_id}" in header
    for name, value in [
        ("Environment", "sit"),
        ("AWS account", "222222222222"),
        ("Region", "eu-west-1"),
        ("Started by", "ann"),
        ("Result", "Succeeded"),
    ]:
        assert f"| **{name}** | {value} |" in header
    events = Journal(journals["approved"]).events()
    assert f"| **Last hash** | {events[-1]['hash']} |" in header
    assert f"✅ intact: {len(events)} events" in header
    assert re.search(r"\| \*\*Duration\*\* \| (\d+ ms|\d+\.\d s) \|", header)
    tables = section(markdown, "tables", "Smoke tests")
    assert "200" in row(tables, "tables-smoke", "GET", "https://api.sit.shop.test/tables-smoke")
    api = section(markdown, "api", "Smoke tests")
    assert "✅ passed" in row(api, "api-create", "POST", "201", "12.5 ms")
    assert "✅ passed" in row(api, "api-get", "GET", "200")
    assert "✅ passed" in row(section(markdown, "tables", "Preconditions"), "tables-check")
    for rendered in (markdown, render(report, "html"), render(report, "json")):
        assert "s3cr3t-token" not in rendered  # the journal's redaction holds


def test_an_approval_lists_the_approver_and_the_time(journals: dict[str, Path]) -> None:
    report = report_of(journals["approved"])
    given = next(e for e in Journal(journals["approved"]).events() if e["kind"] == "approval.given")

    [request] = named(report, "site").approvals
    assert request.what == "approval"
    [decision] = request.decisions
    assert (decision.decision, decision.person, decision.comment) == ("approved", "bob", "LGTM")
    assert decision.time == given["time"]
    assert decision.waited_seconds is not None and decision.waited_seconds >= 0
    markdown = render(report, "md")
    approvals = section(markdown, "site", "Approvals")
    assert "Required: 1 of Tech Lead (role tech_lead)" in approvals
    clock = given["time"][11:19]  # HH:MM:SS, as the log shows times within one day
    assert row(approvals, clock, "bob", "approved", "LGTM")
    assert "approved by bob: LGTM" in section(markdown, "site", "Timeline")


def test_a_rolled_back_project_shows_why_it_failed_and_its_rollback(
    journals: dict[str, Path],
) -> None:
    report = report_of(journals["rolled_back"])
    markdown = render(report, "md")

    api = named(report, "api")
    assert api.phase == "RolledBack"
    assert api.reason == "smoke 2 failed: api-get failed; rolled back"
    assert [r.name for r in api.rollback] == ["api-rollback"]
    assert named(report, "site").reason == "dependency `api` RolledBack"
    assert "| **Reason** | smoke 2 failed: api-get failed; rolled back |" in markdown
    smoke = section(markdown, "api", "Smoke tests")
    assert "❌ failed" in row(smoke, "api-get", "500")
    rollback = section(markdown, "api", "Rollback")
    assert "✅ passed" in row(rollback, "api-rollback", "shell", "api-rollback ok")
    assert row(markdown, "site", "3", "Skipped", "dependency `api` RolledBack")


def test_the_html_page_is_well_formed_with_one_bar_per_project(journals: dict[str, Path]) -> None:
    report = report_of(journals["approved"])

    page = Page.parse(render(report, "html"))

    assert page.counts["svg"] == 1
    assert page.bars == ["docs", "tables", "api", "site"]
    assert page.classes.count("approval") == 2  # requested, then given
    assert "http" not in " ".join(page.urls)  # self-contained: nothing to fetch
    assert page.counts["script"] == 0


def test_a_json_report_round_trips_with_the_documented_keys(journals: dict[str, Path]) -> None:
    report = report_of(journals["approved"])

    data = json.loads(render(report, "json"))

    assert list(data) == ["version", "run", "projects", "run_events"]
    assert data["version"] == 1
    assert data["run"]["verification"]["intact"] is True
    site = data["projects"][3]  # layers: docs, tables, then api, then site
    assert site["approvals"][0]["decisions"][0]["person"] == "bob"
    assert data["projects"][1]["smoke_tests"][0]["status"] == 200
    # Every key in the document is named in the module's documentation of it.
    doc = report_module.__doc__ or ""
    every_kind = json.loads(render(build_report(canary_run().events, INTACT), "json"))
    for key in sorted(_keys(data) | _keys(every_kind)):
        assert f"``{key}``" in doc, key


def test_a_tampered_journal_is_reported_broken_in_the_header(
    journals: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "run" / "journal.jsonl"
    path.parent.mkdir()
    lines = journals["approved"].read_bytes().split(b"\n")
    edited = next(n for n, line in enumerate(lines) if b"LGTM" in line)
    lines[edited] = lines[edited].replace(b"LGTM", b"LGTM, no changes")
    path.write_bytes(b"\n".join(lines))

    report = report_of(path)

    assert report.run.verification.intact is False
    assert report.run.verification.broken_at == edited + 1
    header = render(report, "md").split("## Projects")[0]
    assert f"❌ BROKEN at event {edited + 1} of {len(lines) - 1}: " in header
    assert '<td class="broken">❌ BROKEN at event' in render(report, "html")


def test_a_journal_with_a_line_that_is_not_json_still_reports(
    journals: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "run" / "journal.jsonl"
    path.parent.mkdir()
    lines = journals["rolled_back"].read_bytes().split(b"\n")
    lines[3] = b"{garbage"
    path.write_bytes(b"\n".join(lines))

    report = build_report(parse_events(path.read_bytes()), verify(path))

    assert (report.run.verification.broken_at, report.run.verification.reason) == (
        4,
        "not valid JSON",
    )
    assert named(report, "api").phase == "RolledBack"


# -- events written by hand ------------------------------------------------------------------


class Events:
    """Journal events with exact times, as ``Journal.append`` would write them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, at: float, kind: str, project: str | None = None, /, **data: Any) -> None:
        seconds = 10 * 3600 + at  # 10:00:00 plus ``at`` seconds
        time_text = f"2025-03-04T{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:"
        time_text += f"{seconds % 60:06.3f}+00:00"
        seq = len(self.events) + 1
        self.events.append(
            {
                "seq": seq,
                "time": time_text,
                "run_id": "sit-1",
                "key": f"k{seq}",
                "kind": kind,
                "project": project,
                "data": data,
                "prev": GENESIS,
                "hash": f"{seq:064x}",
            }
        )


def result(name: str, passed: bool = True, **item: Any) -> dict[str, Any]:
    return {
        "item": {"name": name, **item},
        "outcome": {"passed": passed, "summary": f"{name} done", "evidence": {}, "outputs": {}},
        "errored": False,
    }


def spec(*layers: list[str]) -> dict[str, Any]:
    return {
        "run_id": "sit-1",
        "environment": "sit",
        "account_id": "222222222222",
        "region": "af-south-1",
        "started_by": "ann",
        "layers": list(layers),
    }


def canary_run() -> Events:
    """A destructive terraform plan approved, a skipped step, a canary in two stages, the
    ledger, an event of a kind this report does not know, and a manual rollback step; the
    second project's name and step name carry markup."""
    log = Events()
    log.add(0, "run.started", spec=spec(["web"], ["<b>later</b>"]))
    log.add(1, "project.phase", "web", phase="Running", reason=None)
    log.add(1.5, "artifact", "web", sha256="ab" * 32, label="web.zip", kind="zip", size=9)
    log.add(4, "step.result", "web", **terraform_plan())
    need = {"role": "devops_lead", "count": 1, "title": "DevOps Lead", "item": "destroys old"}
    log.add(5, "approval.requested", "web", what="destructive change", requirements=[need])
    log.add(9, "approval.given", "web", person="dan", comment="the bucket is empty")
    log.add(10, "terraform.apply.result", "web", **result("infra", kind="terraform", dir="tf"))
    log.add(10.5, "step.skipped", "web", item={"kind": "s3.sync"}, reason="nothing changed")
    log.add(11, "canary.result", "web", **alias_shift(10))
    log.add(11.2, "canary.step", "web", weight=10, bake_seconds=60)  # versions: the shift's
    log.add(71, "canary.result", "web", **alias_shift(100))
    log.add(
        71.2, "canary.step", "web", weight=100, bake_seconds=0, version="7", previous_version="6"
    )
    log.add(72, "drift.detected", "web", resource="bucket")
    artifact = {"kind": "zip", "label": "web.zip", "sha256": "ab" * 32}
    log.add(73, "ledger.updated", "web", environment="sit", artifact=artifact, status="deployed")
    log.add(
        73.1, "ledger.updated", None, environment="sit", project="web", version="7", sha256="cd"
    )
    log.add(73.2, "project.phase", "web", phase="Succeeded", reason=None)
    log.add(74, "project.phase", "<b>later</b>", phase="Running", reason=None)
    script = result("<script>alert(1)</script>", passed=False, kind="shell")
    log.add(76, "step.result", "<b>later</b>", **script)
    restore = {"kind": "manual", "instructions": "restore the table from its backup"}
    log.add(76.5, "rollback.manual", "<b>later</b>", item=restore)
    log.add(77, "project.phase", "<b>later</b>", phase="Failed", reason="step 1 failed")
    log.add(78, "run.finished", None, phase="Failed")
    return log


def alias_shift(weight: int) -> dict[str, Any]:
    """A canary stage's alias shift, as the engine records it: an item with no name."""
    return result("", function="web-fn", alias="live", version="7", previous="6", weight=weight)


def terraform_plan() -> dict[str, Any]:
    """A terraform plan step's result, as the terraform step kind records it."""
    plan = result("infra", kind="terraform", dir="tf")
    plan["outcome"]["evidence"] = {
        "changes": [
            {"address": "aws_s3_bucket.old", "actions": ["delete"]},
            {"address": "aws_lambda_function.web", "actions": ["create"]},
        ],
        "destructive": ["aws_s3_bucket.old"],
        "counts": {"add": 1, "change": 0, "destroy": 1},
    }
    return plan


def test_durations_and_offsets_come_from_the_event_times() -> None:
    report = build_report(canary_run().events, INTACT)

    web, later = report.projects
    assert (report.run.started, report.run.finished) == (
        "2025-03-04T10:00:00.000+00:00",
        "2025-03-04T10:01:18.000+00:00",
    )
    assert report.run.duration_seconds == 78
    assert web.steps[0].duration_seconds == 2.5  # since the artifact event before it
    assert web.steps[2].duration_seconds == 0.5
    assert (web.started, web.duration_seconds) == ("2025-03-04T10:00:01.000+00:00", 72.2)
    assert web.approvals[0].decisions[0].waited_seconds == 4
    assert later.steps[0].duration_seconds == 2
    assert [e.offset_seconds for e in later.timeline] == [74, 76, 76.5, 77]
    markdown = render(report, "md")
    assert "| **Duration** | 1m 18s |" in markdown
    assert row(section(markdown, "web", "Deploy steps"), "infra", "2.5 s")


def test_new_kinds_are_reported_and_unknown_ones_are_kept() -> None:
    report = build_report(canary_run().events, INTACT)
    markdown = render(report, "md")

    web, later = report.projects
    assert [(c.weight, c.version, c.previous_version) for c in web.canary] == [
        (10, "7", "6"),
        (100, "7", "6"),
    ]
    assert web.artifacts[0].sha256 == "ab" * 32
    assert web.steps[0].plan is not None
    assert web.steps[0].plan["destructive"] == ["aws_s3_bucket.old"]
    assert [(s.kind, s.result) for s in web.steps] == [
        ("terraform", "passed"),
        ("terraform", "passed"),
        ("s3.sync", "skipped"),
        ("canary", "passed"),
        ("canary", "passed"),
    ]
    assert [(e.version, e.sha256, e.status) for e in web.ledger] == [
        ("web.zip", "ab" * 32, "deployed"),
        ("7", "cd", None),
    ]
    assert [(r.name, r.result) for r in later.rollback] == [("manual", "manual")]
    plan = section(markdown, "web", "Terraform plan")
    assert row(plan, "infra", "aws_s3_bucket.old", "delete", "yes")
    assert row(plan, "infra", "aws_lambda_function.web", "create", "no")
    approvals = section(markdown, "web", "Approvals: destructive change")
    assert "Required: 1 of DevOps Lead (role devops_lead)" in approvals
    assert row(approvals, "dan", "approved", "the bucket is empty", "4.0 s")
    steps = section(markdown, "web", "Deploy steps")
    assert "nothing changed" in row(steps, "s3.sync", "⏭️ skipped")
    assert row(steps, "4", "canary web-fn", "canary", "✅ passed")
    assert row(section(markdown, "web", "Canary"), "10%", "60 s", "7", "6")
    assert f"| **Artifact** | web.zip (zip), sha256 {'ab' * 32} |" in markdown
    assert "| **Ledger** | sit: web.zip (deployed) |" in markdown
    assert 'drift.detected {"resource": "bucket"}' in markdown
    rollback = section(markdown, "\\<b\\>later\\</b\\>", "Rollback")
    assert row(rollback, "manual", "👤 manual", "restore the table from its backup")
    page = Page.parse(render(report, "html"))
    assert page.classes.count("canary") == 2
    assert page.classes.count("approval") == 2


def test_html_and_markdown_escape_what_the_journal_holds() -> None:
    report = build_report(canary_run().events, INTACT)

    page_text = render(report, "html")
    page = Page.parse(page_text)

    assert "<script" not in page_text and "<b>later" not in page_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_text
    assert page.counts["script"] == 0 and page.counts["b"] == 0
    assert page.bars == ["web", "<b>later</b>"]  # the attribute, unescaped by the parser
    markdown = render(report, "md")
    assert re.search(r"(?<!\\)[<>]", markdown) is None  # every angle bracket escaped
    assert "\\<script\\>alert(1)\\</script\\>" in markdown


def test_a_run_still_waiting_has_no_end_and_says_what_it_waits_for() -> None:
    log = Events()
    log.add(0, "run.started", spec=spec(["gated"]))
    log.add(1, "project.phase", "gated", phase="Running", reason=None)
    requirement = {"role": "tech_lead", "count": 1, "title": "Tech Lead", "item": None}
    log.add(2, "approval.requested", "gated", requirements=[requirement])
    log.add(
        2, "project.phase", "gated", phase="WaitingForApproval", reason="waiting for 1 of Tech Lead"
    )
    log.add(30, "approval.refused", "gated", person="ann", reason="four eyes: ann started the run")

    report = build_report(log.events, INTACT)

    assert (report.run.phase, report.run.finished, report.run.duration_seconds) == (
        "WaitingForApproval",
        None,
        30,
    )
    markdown = render(report, "md")
    assert "| **Finished** | not finished |" in markdown
    assert row(markdown, "ann", "refused", "four eyes: ann started the run", "28.0 s")


def test_an_aborted_run_says_who_aborted_it_and_aborts_what_had_not_finished() -> None:
    log = Events()
    log.add(0, "run.started", spec=spec(["done"], ["gated"]))
    log.add(1, "project.phase", "done", phase="Succeeded", reason=None)
    log.add(2, "project.phase", "gated", phase="WaitingForApproval", reason="waiting")
    log.add(9, "run.finished", None, phase="Aborted", reason="aborted by eve")

    report = build_report(log.events, INTACT)

    assert (report.run.phase, report.run.reason) == ("Aborted", "aborted by eve")
    assert [(p.name, p.phase) for p in report.projects] == [
        ("done", "Succeeded"),
        ("gated", "Aborted"),
    ]
    assert "| **Result** | Aborted (aborted by eve) |" in render(report, "md")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render(build_report([], INTACT), "pdf")  # type: ignore[arg-type]


# -- helpers -----------------------------------------------------------------------------------


def _keys(value: Any) -> set[str]:
    """The keys of a JSON document, but those of terraform's own plan counts."""
    if isinstance(value, dict):
        inner = (_keys(v) for k, v in value.items() if k != "counts")
        return set(value) | {k for keys in inner for k in keys}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source"}


class Page(HTMLParser):
    """Parses a page, failing on a closing tag that does not close the open element."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.counts: Counter[str] = Counter()
        self.bars: list[str] = []
        self.classes: list[str] = []
        self.urls: list[str] = []

    @classmethod
    def parse(cls, text: str) -> Page:
        page = cls()
        page.feed(text)
        page.close()
        assert page.open == [], f"unclosed: {page.open}"
        assert page.counts.get("html") == 1
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._seen(tag, dict(attrs))
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._seen(tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def _seen(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.counts[tag] += 1
        self.classes.append(attrs.get("class") or "")
        if tag == "rect" and attrs.get("class") == "bar":
            self.bars.append(attrs.get("data-project") or "")
        self.urls += [v or "" for k, v in attrs.items() if k in {"href", "src"}]
