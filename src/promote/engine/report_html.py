"""The deployment log as one self-contained HTML page, with a timeline chart in inline SVG.

Nothing external: the CSS is inline and the chart is SVG in the page, so the file can be
attached to a change ticket and opened offline. Every value from the journal goes through
``html.escape``; the only markup is this module's own. The tables are the Markdown log's
(:func:`~promote.engine.report_md.project_sections`), so the two never disagree.

The timeline chart has one row per project: a bar from its first to its last event,
coloured by its final phase, diamonds for approval decisions, triangles for canary steps, and
a time axis in time since the run started.

A project whose canary steps (or soak) were judged on their metrics gets two more charts in
its analysis section: error rate and p95 latency over time, a line per version (the canary's
and the baseline's), the rules' thresholds as dashed lines, each canary step as a dotted
line with its weight, and each decision as a line in its verdict's colour ("fail: rolled
back", "pass").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from promote.engine.phases import ProjectPhase
from promote.engine.report import ProjectReport, Report, TimelineEntry
from promote.engine.report_analysis import (
    CHARTED,
    Marker,
    ProjectAnalysis,
    Series,
    Threshold,
    canary_markers,
    merged,
    soak_markers,
)
from promote.engine.report_md import (
    ANALYSIS,
    SOAK,
    Clock,
    Table,
    duration_text,
    full_time,
    header_rows,
    overview_table,
    project_rows,
    project_sections,
    timeline_table,
)

PHASE_COLOURS = {
    ProjectPhase.SUCCEEDED.value: "#2e7d32",
    ProjectPhase.FAILED.value: "#c62828",
    ProjectPhase.ERRORED.value: "#6a1b9a",
    ProjectPhase.ROLLED_BACK.value: "#ef6c00",
    ProjectPhase.ABORTED.value: "#424242",
    ProjectPhase.SKIPPED.value: "#9e9e9e",
    ProjectPhase.RUNNING.value: "#1565c0",
    ProjectPhase.WAITING_FOR_APPROVAL.value: "#00838f",
    ProjectPhase.PENDING.value: "#b0bec5",
}
_UNKNOWN_COLOUR = "#795548"
_DECISION_COLOURS = {
    "approval.given": "#1b5e20",
    "approval.rejected": "#b71c1c",
    "approval.refused": "#f9a825",
    "approval.requested": "#ffffff",
}
_CANARY_COLOUR = "#0d47a1"

# Chart geometry, in SVG user units (pixels at 100 %).
_WIDTH = 960
_LABEL = 190  # the project names' column
_RIGHT = 24
_TOP = 14
_ROW = 34
_BAR = 12
_AXIS = 34
_LEGEND = 26
# Tick spacings in seconds: the first that gives at most _TICKS ticks is used.
_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
          1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)  # fmt: skip
_TICKS = 8

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


def _e(value: Any) -> str:
    return escape("–" if value is None or value == "" else str(value), quote=True)


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
    colour = PHASE_COLOURS.get(phase, _UNKNOWN_COLOUR)
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


# -- the timeline chart -----------------------------------------------------------------


class _Scale:
    """Seconds since the run started -> x in the chart."""

    def __init__(self, total: float) -> None:
        self.total = total if total > 0 else 1.0
        self.width = _WIDTH - _LABEL - _RIGHT

    def __call__(self, seconds: float) -> float:
        return round(_LABEL + min(max(seconds, 0.0), self.total) / self.total * self.width, 1)


def _span(project: ProjectReport) -> tuple[float, float] | None:
    offsets = [e.offset_seconds for e in project.timeline if e.offset_seconds is not None]
    return (min(offsets), max(offsets)) if offsets else None


def timeline_svg(report: Report) -> str:
    """One row per project: a bar from its first to its last event, coloured by its phase."""
    spans = [_span(p) for p in report.projects]
    ends = [s[1] for s in spans if s] + [report.run.duration_seconds or 0.0]
    scale = _Scale(max(ends))
    rows_height = _ROW * max(len(report.projects), 1)
    height = _TOP + rows_height + _AXIS + _LEGEND
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{_WIDTH}" height="{height}"'
        f' viewBox="0 0 {_WIDTH} {height}" aria-label="Timeline of the run by project">',
        f"<title>Timeline of run {_e(report.run.run_id)}</title>",
        *_axis(scale, _TOP + rows_height),
    ]
    for index, (project, span) in enumerate(zip(report.projects, spans, strict=True)):
        parts += _row(index, project, span, scale)
    parts += _legend(report, _TOP + rows_height + _AXIS)
    parts.append("</svg>")
    return "\n".join(parts)


def _tick_step(total: float) -> float:
    return next((s for s in _STEPS if total / s <= _TICKS), _STEPS[-1])


def _tick_label(seconds: float) -> str:
    if seconds < 60:
        return f"{round(seconds, 2):g}s"
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}m" + (f"{rest:02d}s" if rest else "")
    hours, rest = divmod(whole, 3600)
    if hours < 48:
        return f"{hours}h" + (f"{rest // 60:02d}m" if rest // 60 else "")
    return f"{hours // 24}d" + (f"{hours % 24}h" if hours % 24 else "")


def _axis(scale: _Scale, bottom: int) -> list[str]:
    step = _tick_step(scale.total)
    parts = [f'<line class="axis" x1="{_LABEL}" y1="{bottom}" x2="{scale(scale.total)}"'
             f' y2="{bottom}"/>']  # fmt: skip
    count = int(scale.total / step + 1e-9)
    for n in range(count + 1):
        x = scale(n * step)
        parts.append(f'<line class="grid" x1="{x}" y1="{_TOP}" x2="{x}" y2="{bottom + 4}"/>')
        label = _tick_label(n * step)
        parts.append(f'<text x="{x}" y="{bottom + 17}" text-anchor="middle">{label}</text>')
    return parts


def _row(
    index: int, project: ProjectReport, span: tuple[float, float] | None, scale: _Scale
) -> list[str]:
    top = _TOP + index * _ROW
    middle = top + _ROW // 2
    name = project.name if len(project.name) <= 26 else project.name[:25] + "…"
    parts = [
        f'<text x="{_LABEL - 8}" y="{middle + 4}" text-anchor="end">'
        f"<title>{_e(project.name)}</title>{_e(name)}</text>"
    ]
    if span is None:
        return [*parts, f'<text x="{_LABEL + 4}" y="{middle + 4}">no events</text>']
    start, end = scale(span[0]), scale(span[1])
    colour = PHASE_COLOURS.get(project.phase, _UNKNOWN_COLOUR)
    tip = (
        f"{project.name}: {project.phase}, {duration_text(project.duration_seconds)}"
        f" ({full_time(project.started)} to {full_time(project.finished)})"
    )
    parts.append(
        f'<rect class="bar" data-project="{_e(project.name)}" x="{start}" y="{middle - _BAR / 2}"'
        f' width="{max(end - start, 3)}" height="{_BAR}" rx="2" fill="{colour}">'
        f"<title>{_e(tip)}</title></rect>"
    )
    parts += [_marker(entry, scale, middle) for entry in project.timeline if _marked(entry)]
    return parts


def _marked(entry: TimelineEntry) -> bool:
    wanted = entry.kind in _DECISION_COLOURS or entry.kind == "canary.step"
    return wanted and entry.offset_seconds is not None


def _marker(entry: TimelineEntry, scale: _Scale, middle: int) -> str:
    x = scale(entry.offset_seconds or 0.0)
    tip = f"<title>{_e(entry.text)}</title>"
    if entry.kind == "canary.step":
        # A triangle above the bar: the traffic moved.
        points = f"{x},{middle - 7} {x - 5},{middle - 15} {x + 5},{middle - 15}"
        return f'<polygon class="canary" points="{points}" fill="{_CANARY_COLOUR}">{tip}</polygon>'
    points = f"{x},{middle - 6} {x + 5},{middle} {x},{middle + 6} {x - 5},{middle}"
    fill = _DECISION_COLOURS[entry.kind]
    return (
        f'<polygon class="approval" points="{points}" fill="{fill}" stroke="#212121"'
        f' stroke-width="1">{tip}</polygon>'
    )


def _legend(report: Report, top: int) -> list[str]:
    phases = dict.fromkeys(p.phase for p in report.projects)  # in order of appearance
    parts: list[str] = []
    x = _LABEL
    for phase in phases:
        colour = PHASE_COLOURS.get(phase, _UNKNOWN_COLOUR)
        parts.append(f'<rect x="{x}" y="{top + 4}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{top + 14}">{_e(phase)}</text>')
        x += 24 + 7 * len(phase)
    key = "◇ approval requested   ◆ decided   ▼ canary step"
    parts.append(f'<text x="{x + 8}" y="{top + 14}" xml:space="preserve">{key}</text>')
    return parts


# -- the analysis charts ----------------------------------------------------------------


# Geometry of the analysis charts; their width and right margin are the timeline's.
_C_LEFT, _C_TOP, _C_PLOT, _C_AXIS, _C_LEGEND = 70, 30, 190, 30, 28
_CANARY = ("#d84315", "#ad1457", "#6a1b9a", "#ef6c00")
_BASELINE = ("#1565c0", "#00838f", "#2e7d32", "#37474f")
_VERDICT_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#f9a825"}
_THRESHOLD_COLOUR = "#b71c1c"
_DOTS = 60  # a series of at most this many points also gets a dot per point


def canary_charts(analysis: ProjectAnalysis, name: str) -> list[str]:
    """Error rate and p95 over the canary steps: none when no step has samples."""
    series = merged(s for step in analysis.steps for s in step.series)
    if not series:
        return []
    markers = canary_markers(analysis)
    what = f"canary analysis of {name}"
    return [chart_svg(what, m, series, analysis.thresholds, markers) for m in CHARTED]


def soak_charts(analysis: ProjectAnalysis, name: str) -> list[str]:
    """Error rate and p95 of the new version over the soak: none without samples."""
    soak = analysis.soak
    series = merged(soak.series) if soak else []
    if soak is None or not series:
        return []
    what, markers = f"soak of {name}", soak_markers(soak)
    return [chart_svg(what, m, series, soak.thresholds, markers, "soak start") for m in CHARTED]


def chart_svg(
    what: str,
    measure: str,
    series: Sequence[Series],
    limits: Sequence[Threshold],
    markers: Sequence[Marker],
    shifts: str = "canary step",
) -> str:
    """``measure`` (error_rate or p95) of each series over time, since the first marker (or
    point), with the thresholds of ``limits`` that are of this measure."""
    limits = [t for t in limits if t.metric == CHARTED[measure]]
    times = [p.at for s in series for p in s.points] + [m.at for m in markers]
    origin, end = min(times), max(times)
    # Room on the right for the last marker's label, and above the highest line for its own.
    x = _Axis(_C_LEFT, _WIDTH - _RIGHT, origin, end + ((end - origin) * 0.06 or 1.0))
    values = [v for s in series for p in s.points if (v := getattr(p, measure)) is not None]
    floor = 0.01 if measure == "error_rate" else 0.1  # the scale of a chart of zeros
    top = _nice_ceiling(max([*values, *(t.threshold for t in limits), floor]) * 1.1)
    y = _Axis(_C_TOP + _C_PLOT, _C_TOP, 0.0, top)
    name = "error rate" if measure == "error_rate" else "p95 latency"
    height = _C_TOP + _C_PLOT + _C_AXIS + _C_LEGEND
    labels = [_label(s, series) for s in series]
    description = (
        f"{name.capitalize()} over time since the start, per version: {', '.join(labels)}."
        + "".join(f" Threshold {t.rule}." for t in limits)
        + "".join(f" At {_tick_label(m.at - origin)}: {m.tip}." for m in markers if m.verdict)
    )
    title = f"{name.capitalize()} of the {what}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="analysis-chart"'
        f' data-measure="{measure}" width="{_WIDTH}" height="{height}"'
        f' viewBox="0 0 {_WIDTH} {height}" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f"<desc>{_e(description)}</desc>",
        *_chart_axes(x, y, measure, origin),
    ]
    for index, one in enumerate(series):
        parts += _line(one, measure, labels[index], _colour(one, series), x, y)
    parts += _thresholds(limits, y)
    parts += [_chart_marker(m, x, origin) for m in markers]
    parts += _chart_legend(series, labels, bool(limits), shifts, _C_TOP + _C_PLOT + _C_AXIS)
    parts.append("</svg>")
    return "\n".join(parts)


class _Axis:
    """A value -> a coordinate, linearly, clamped to the axis."""

    def __init__(self, start: float, end: float, low: float, high: float) -> None:
        self.start, self.end, self.low = start, end, low
        self.span = high - low if high > low else 1.0

    def __call__(self, value: float) -> float:
        share = min(max((value - self.low) / self.span, 0.0), 1.0)
        return round(self.start + share * (self.end - self.start), 1)


def _nice_ceiling(value: float) -> float:
    step = _nice_step(value / 4)
    return math.ceil(value / step - 1e-9) * step


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))


def _value_text(measure: str, value: float | None, top: float | None = None) -> str:
    """A rate as a percentage; a latency in ms below a second (or an axis below one)."""
    if value is None:
        return "–"
    if measure == "error_rate":
        return f"{round(value * 100, 6):g}%"
    if (top if top is not None else value) < 1:
        return f"{round(value * 1000, 3):g} ms"
    return f"{round(value, 3):g} s"


def _chart_axes(x: _Axis, y: _Axis, measure: str, origin: float) -> list[str]:
    bottom, right = _C_TOP + _C_PLOT, _WIDTH - _RIGHT
    parts = [
        f'<line class="axis" x1="{_C_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        f'<line class="axis" x1="{_C_LEFT}" y1="{_C_TOP}" x2="{_C_LEFT}" y2="{bottom}"/>',
    ]
    top = y.low + y.span
    step = _nice_step(top / 4)
    for n in range(int(top / step + 1e-9) + 1):
        at = y(n * step)
        parts.append(f'<line class="grid" x1="{_C_LEFT}" y1="{at}" x2="{right}" y2="{at}"/>')
        label = _value_text(measure, n * step, top)
        parts.append(f'<text x="{_C_LEFT - 6}" y="{at + 4}" text-anchor="end">{label}</text>')
    total = x.span
    seconds = _tick_step(total)
    for n in range(int(total / seconds + 1e-9) + 1):
        at = x(origin + n * seconds)
        parts.append(f'<line class="grid" x1="{at}" y1="{bottom}" x2="{at}" y2="{bottom + 4}"/>')
        label = _tick_label(n * seconds)
        parts.append(f'<text x="{at}" y="{bottom + 17}" text-anchor="middle">{label}</text>')
    return parts


def _label(one: Series, every: Sequence[Series]) -> str:
    many = len({s.function for s in every}) > 1
    return (f"{one.function} " if many else "") + f"{one.role} (version {one.version or '?'})"


def _colour(one: Series, every: Sequence[Series]) -> str:
    functions = list(dict.fromkeys(s.function for s in every))
    palette = _BASELINE if one.role == "baseline" else _CANARY
    return palette[functions.index(one.function) % len(palette)]


def _line(one: Series, measure: str, label: str, colour: str, x: _Axis, y: _Axis) -> list[str]:
    # A point without a value (no requests in its window) breaks the line. The baseline's
    # is wider and paler, so that a canary on top of it leaves it in sight.
    baseline = one.role == "baseline"
    width = 'stroke-width="4" stroke-opacity="0.55"' if baseline else 'stroke-width="2"'
    runs: list[list[str]] = [[]]
    dots = []
    for point in one.points:
        value = getattr(point, measure)
        if value is None:
            runs.append([])
            continue
        at = f"{x(point.at)},{y(value)}"
        runs[-1].append(at)
        if len(one.points) <= _DOTS:
            tip = f"{label}: {_value_text(measure, value)} of {point.requests or 0} requests"
            dots.append(
                f'<circle cx="{x(point.at)}" cy="{y(value)}" r="2.5" fill="{colour}">'
                f"<title>{_e(tip)}</title></circle>"
            )
    lines = [
        f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" {width}/>'
        for run in runs
        if run
    ]
    return [
        f'<g class="series" data-function="{_e(one.function)}" data-role="{_e(one.role)}"'
        f' data-version="{_e(one.version)}"><title>{_e(label)}</title>',
        *lines,
        *dots,
        "</g>",
    ]


def _thresholds(limits: Sequence[Threshold], y: _Axis) -> list[str]:
    # Rules of one threshold (reads and writes alike) share a line and a label.
    grouped: dict[float, list[str]] = {}
    for limit in limits:
        grouped.setdefault(limit.threshold, []).append(limit.rule)
    parts = []
    for value, rules in grouped.items():
        at, label = y(value), "; ".join(rules)
        parts += [
            f'<g class="threshold" data-threshold="{value:g}"><title>{_e(label)}</title>',
            f'<line x1="{_C_LEFT}" y1="{at}" x2="{_WIDTH - _RIGHT}" y2="{at}"'
            f' stroke="{_THRESHOLD_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"/>',
            f'<text x="{_WIDTH - _RIGHT - 4}" y="{at - 4}" text-anchor="end"'
            f' style="fill:{_THRESHOLD_COLOUR}">{_e(label)}</text>',
            "</g>",
        ]
    return parts


def _chart_marker(marker: Marker, x: _Axis, origin: float) -> str:
    at, bottom = x(marker.at), _C_TOP + _C_PLOT
    when = _tick_label(marker.at - origin)
    tip = f"<title>{_e(marker.tip)} (+{when})</title>"
    if marker.verdict is None:
        # A canary step: a dotted line, its weight to the right at the top.
        return (
            f'<g class="step-marker">{tip}<line x1="{at}" y1="{_C_TOP}" x2="{at}" y2="{bottom}"'
            f' stroke="#616161" stroke-dasharray="2 3"/>'
            f'<text x="{at + 3}" y="{_C_TOP - 16}">{_e(marker.label)}</text></g>'
        )
    # A decision: a solid line in its verdict's colour, a diamond, its label to the left.
    colour = _VERDICT_COLOURS.get(marker.verdict, "#424242")
    diamond = f"{at},{_C_TOP - 10} {at + 5},{_C_TOP - 5} {at},{_C_TOP} {at - 5},{_C_TOP - 5}"
    return (
        f'<g class="decision" data-verdict="{_e(marker.verdict)}">{tip}'
        f'<line x1="{at}" y1="{_C_TOP}" x2="{at}" y2="{bottom}" stroke="{colour}"'
        ' stroke-width="2"/>'
        f'<polygon points="{diamond}" fill="{colour}"/>'
        f'<text x="{at - 7}" y="{_C_TOP - 16}" text-anchor="end" style="fill:{colour}">'
        f"{_e(marker.label)}</text></g>"
    )


def _chart_legend(
    series: Sequence[Series], labels: list[str], limits: bool, shifts: str, top: int
) -> list[str]:
    parts, x = [], _C_LEFT
    for one, label in zip(series, labels, strict=True):
        colour = _colour(one, series)
        parts.append(
            f'<line x1="{x}" y1="{top + 10}" x2="{x + 18}" y2="{top + 10}" stroke="{colour}"'
            f' stroke-width="2"/>'
        )
        parts.append(f'<text x="{x + 24}" y="{top + 14}">{_e(label)}</text>')
        x += 40 + 7 * len(label)
    key = ("- - threshold   " if limits else "") + f"┆ {shifts}   ◆ decision"
    parts.append(f'<text x="{x}" y="{top + 14}" xml:space="preserve">{key}</text>')
    return parts
