"""The analysis charts of the HTML page: error rate and p95 latency over time, in inline SVG.

A project whose canary steps (or soak) were judged on their metrics gets two charts in its
analysis section: a line per version (the canary's and the baseline's), the rules'
thresholds as dashed lines, each canary step as a dotted line with its weight, and each
decision as a line in its verdict's colour ("fail: rolled back", "pass"). Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from promote.engine.report_analysis_model import ProjectAnalysis, Series, Threshold
from promote.engine.report_chart_data import (
    CHARTED,
    Marker,
    canary_markers,
    merged,
    soak_markers,
)
from promote.engine.report_svg import RIGHT, WIDTH, tick_label, tick_step
from promote.engine.report_svg import escaped as _e

# Geometry of the analysis charts; their width and right margin are every chart's.
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
    x = _Axis(_C_LEFT, WIDTH - RIGHT, origin, end + ((end - origin) * 0.06 or 1.0))
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
        + "".join(f" At {tick_label(m.at - origin)}: {m.tip}." for m in markers if m.verdict)
    )
    title = f"{name.capitalize()} of the {what}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="analysis-chart"'
        f' data-measure="{measure}" width="{WIDTH}" height="{height}"'
        f' viewBox="0 0 {WIDTH} {height}" aria-label="{_e(title)}">',
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
    bottom, right = _C_TOP + _C_PLOT, WIDTH - RIGHT
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
    seconds = tick_step(total)
    for n in range(int(total / seconds + 1e-9) + 1):
        at = x(origin + n * seconds)
        parts.append(f'<line class="grid" x1="{at}" y1="{bottom}" x2="{at}" y2="{bottom + 4}"/>')
        label = tick_label(n * seconds)
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
            f'<line x1="{_C_LEFT}" y1="{at}" x2="{WIDTH - RIGHT}" y2="{at}"'
            f' stroke="{_THRESHOLD_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"/>',
            f'<text x="{WIDTH - RIGHT - 4}" y="{at - 4}" text-anchor="end"'
            f' style="fill:{_THRESHOLD_COLOUR}">{_e(label)}</text>',
            "</g>",
        ]
    return parts


def _chart_marker(marker: Marker, x: _Axis, origin: float) -> str:
    at, bottom = x(marker.at), _C_TOP + _C_PLOT
    when = tick_label(marker.at - origin)
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
