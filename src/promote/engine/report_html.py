"""The deployment log as one self-contained HTML page, with a timeline chart in inline SVG.

Nothing external: the CSS is inline and the charts are SVG in the page, so the file can be
attached to a change ticket and opened offline. Every value from the journal goes through
``html.escape``; the only markup is this module's own and the charts'. The tables are the
Markdown log's (:func:`~promote.engine.report_md.project_sections`), so the two never
disagree.

This module lays the page out. The timeline chart, a row per project, is
:mod:`promote.engine.report_svg_timeline`'s; the error rate and p95 latency charts of a
project whose canary steps (or soak) were judged on their metrics are
:mod:`promote.engine.report_svg_analysis`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from promote.engine.report_md import (
    ANALYSIS,
    SOAK,
    Clock,
    Table,
    header_rows,
    overview_table,
    project_rows,
    project_sections,
    timeline_table,
)
from promote.engine.report_model import ProjectReport, Report
from promote.engine.report_svg import escaped as _e

# The charts, drawn here once, are still importable from here (see __all__).
from promote.engine.report_svg_analysis import canary_charts, chart_svg, soak_charts
from promote.engine.report_svg_timeline import PHASE_COLOURS, phase_colour, timeline_svg

__all__ = [
    "PHASE_COLOURS",
    "canary_charts",
    "chart_svg",
    "render_html",
    "soak_charts",
    "timeline_svg",
]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212121;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .4em 0 1em; width: 100%; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f5f5f5; }
table.attributes { width: auto; } table.attributes th { width: 10em; }
.phase { color: #fff; border-radius: 3px; padding: .05em .45em; font-size: .85em; }
.broken { color: #b71c1c; font-weight: bold; }
svg { max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #212121; }
svg .grid { stroke: #e0e0e0; } svg .axis { stroke: #616161; }
details summary { cursor: pointer; margin: .4em 0; }
"""


def render_html(report: Report) -> str:
    clock = Clock(report.run)
    title = f"Deployment log: {report.run.run_id}"
    body = [
        f"<h1>{_e(title)}</h1>",
        _header(report),
        "<h2>Timeline</h2>",
        timeline_svg(report),
        "<h2>Projects</h2>",
        _table(overview_table(report)),
    ]
    body += [_project(n, p, clock) for n, p in enumerate(report.projects, start=1)]
    events = timeline_table(report.run_events, clock)
    if events:
        body += ["<h2>Run events</h2>", _table(events)]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _table(table: Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in table.headers)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>\n" for row in table.rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"


def _attributes(rows: Iterable[tuple[str, Any]], marked: str | None = None) -> str:
    cells = "".join(
        f"<tr><th>{_e(name)}</th>"
        + (f'<td class="broken">{_e(value)}</td>' if name == marked else f"<td>{_e(value)}</td>")
        + "</tr>\n"
        for name, value in rows
    )
    return f'<table class="attributes">\n<tbody>\n{cells}</tbody>\n</table>'


def _header(report: Report) -> str:
    # A broken journal is the first thing a reader of the log must see.
    marked = None if report.run.verification.intact else "Journal"
    return _attributes(header_rows(report.run), marked)


def _badge(phase: str) -> str:
    colour = phase_colour(phase)
    return f'<span class="phase" style="background:{colour}">{_e(phase)}</span>'


def _project(number: int, project: ProjectReport, clock: Clock) -> str:
    parts = [
        f'<section id="project-{number}">',
        f"<h2>{number}. {_e(project.name)} {_badge(project.phase)}</h2>",
        _attributes(project_rows(project, clock)),
    ]
    for section in project_sections(project, clock):
        inner = ([f"<p>{_e(section.intro)}</p>"] if section.intro else []) + (
            [_table(section.table)] if section.table else []
        )
        if section.title == "Timeline":
            # The full event list is long and secondary to the tables: folded by default.
            count = len(section.table.rows) if section.table else 0
            parts.append(f"<details><summary>Timeline ({count} events)</summary>")
            parts += [*inner, "</details>"]
        else:
            parts += [f"<h3>{_e(section.title)}</h3>", *inner[:1], *_charts(project, section.title)]
            parts += inner[1:]
    parts.append("</section>")
    return "\n".join(parts)


def _charts(project: ProjectReport, title: str) -> list[str]:
    if project.analysis is None:
        return []
    if title == ANALYSIS:
        return canary_charts(project.analysis, project.name)
    return soak_charts(project.analysis, project.name) if title == SOAK else []
