"""Human output with Rich: diagnostics, and plans as tables and a timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from promote.diagnostics import Diagnostic, count
from promote.model import format_duration
from promote.planning import EnvironmentPlan, WavePlan

_BAR_WIDTH = 30


def print_diagnostics(console: Console, diagnostics: Sequence[Diagnostic]) -> None:
    for d in diagnostics:
        style = "red" if d.is_error else "yellow"
        console.print(Text(d.format(), style=style), soft_wrap=True)


def print_summary(console: Console, name: str, diagnostics: Sequence[Diagnostic]) -> None:
    errors, warnings = count(diagnostics)
    if errors:
        console.print(f"[red]✗ {name}: {errors} error(s), {warnings} warning(s)[/]")
    else:
        console.print(f"[green]✓ {name} is valid[/] ({warnings} warning(s))")


def print_plan(console: Console, plan: EnvironmentPlan) -> None:
    console.print(
        f"[bold]Plan for {plan.environment}[/] (account {plan.account_id}, {plan.region}): "
        f"{len(plan.projects)} projects in {len(plan.layers)} layers, "
        f"estimated {format_duration(plan.duration)}"
    )
    console.print(_layers_table(plan))
    console.print(_critical_path(plan))
    console.print(_gates_table(plan))
    _print_bake_warnings(console, plan)
    console.print(_timeline(plan))


def _print_bake_warnings(console: Console, plan: EnvironmentPlan) -> None:
    for project in sorted(plan.projects.values(), key=lambda p: (p.layer, p.name)):
        for warning in project.gates.bake_warnings:
            console.print(f"[yellow]warning[/] V025 `{project.name}`: {warning}", highlight=False)


def _layers_table(plan: EnvironmentPlan) -> Table:
    table = Table(title="Execution layers, in order", title_justify="left")
    table.add_column("Layer", justify="right")
    table.add_column("Projects (run in parallel)")
    for index, names in enumerate(plan.layers, start=1):
        table.add_row(str(index), ", ".join(names))
    return table


def _critical_path(plan: EnvironmentPlan) -> Text:
    chain = " -> ".join(
        f"{name} ({format_duration(plan.projects[name].estimate)})" for name in plan.critical_path
    )
    return Text.assemble(
        ("Critical path ", "bold"), (f"({format_duration(plan.duration)}): ", "bold"), chain
    )


def _gates_table(plan: EnvironmentPlan) -> Table:
    table = Table(title=f"Gates in {plan.environment}", title_justify="left")
    table.add_column("Project", no_wrap=True)
    table.add_column("Approvals", ratio=3)
    for column in ("Checks", "Tests"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("Traffic", ratio=2)
    table.add_column("Soak", ratio=1)
    ordered = sorted(plan.projects.values(), key=lambda p: (p.layer, p.name))
    for project in ordered:
        gates = project.gates
        table.add_row(
            project.name,
            ", ".join(gates.approvals) or "-",
            str(len(gates.preconditions)),
            str(len(gates.smoke_tests)),
            gates.canary or "-",
            gates.soak or "-",
        )
    return table


def _timeline(plan: EnvironmentPlan) -> Text:
    text = Text("Timeline against the wave schedule\n", style="bold")
    spans = [w for w in plan.waves if w.estimated_start and w.estimated_finish]
    if not spans:
        text.append("  no wave is scheduled in this environment\n", style="dim")
        return text
    first = min(w.estimated_start for w in spans if w.estimated_start)
    last = max(w.estimated_finish for w in spans if w.estimated_finish)
    scale = max((last - first).total_seconds(), 1.0) / _BAR_WIDTH
    width = max(len(w.title) for w in plan.waves)
    for wave in plan.waves:
        text.append_text(_wave_line(wave, first, scale, width))
    return text


def _wave_line(wave: WavePlan, first: datetime, scale: float, width: int) -> Text:
    if wave.estimated_start is None or wave.estimated_finish is None:
        return Text(f"  {wave.title:<{width}}  not scheduled\n", style="dim")
    offset = int((wave.estimated_start - first).total_seconds() / scale)
    length = max(1, int((wave.estimated_finish - wave.estimated_start).total_seconds() / scale))
    bar = (" " * offset + "█" * length)[: _BAR_WIDTH + 1]
    span = f"{_fmt(wave.estimated_start)} -> {_fmt(wave.estimated_finish)}"
    line = Text(f"  {wave.title:<{width}}  {span}  |{bar:<{_BAR_WIDTH + 1}}|\n")
    if wave.scheduled is not None and wave.estimated_start > wave.scheduled:
        delay = format_duration(wave.estimated_start - wave.scheduled)
        line.append(
            f"  {'':<{width}}  scheduled {_fmt(wave.scheduled)}, starts {delay} late: "
            "it waits for the waves it depends on\n",
            style="red",
        )
    return line


def _fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")
