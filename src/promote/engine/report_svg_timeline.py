"""The HTML page's timeline chart: a row per project in inline SVG, in time since the start.

Each project's row is a bar from its first to its last event, coloured by its final phase,
with diamonds for approval decisions and triangles for canary steps. Pure.
"""

from __future__ import annotations

from promote.engine.phases import ProjectPhase
from promote.engine.report_md import duration_text, full_time
from promote.engine.report_model import ProjectReport, Report, TimelineEntry
from promote.engine.report_svg import RIGHT, WIDTH, tick_label, tick_step
from promote.engine.report_svg import escaped as _e

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

# The timeline's geometry, in SVG user units (pixels at 100 %).
_LABEL = 190  # the project names' column
_TOP = 14
_ROW = 34
_BAR = 12
_AXIS = 34
_LEGEND = 26


def phase_colour(phase: str) -> str:
    """A phase's colour, in the timeline and in the page's badges."""
    return PHASE_COLOURS.get(phase, _UNKNOWN_COLOUR)


class _Scale:
    """Seconds since the run started -> x in the chart."""

    def __init__(self, total: float) -> None:
        self.total = total if total > 0 else 1.0
        self.width = WIDTH - _LABEL - RIGHT

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
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}"'
        f' viewBox="0 0 {WIDTH} {height}" aria-label="Timeline of the run by project">',
        f"<title>Timeline of run {_e(report.run.run_id)}</title>",
        *_axis(scale, _TOP + rows_height),
    ]
    for index, (project, span) in enumerate(zip(report.projects, spans, strict=True)):
        parts += _row(index, project, span, scale)
    parts += _legend(report, _TOP + rows_height + _AXIS)
    parts.append("</svg>")
    return "\n".join(parts)


def _axis(scale: _Scale, bottom: int) -> list[str]:
    step = tick_step(scale.total)
    parts = [f'<line class="axis" x1="{_LABEL}" y1="{bottom}" x2="{scale(scale.total)}"'
             f' y2="{bottom}"/>']  # fmt: skip
    count = int(scale.total / step + 1e-9)
    for n in range(count + 1):
        x = scale(n * step)
        parts.append(f'<line class="grid" x1="{x}" y1="{_TOP}" x2="{x}" y2="{bottom + 4}"/>')
        label = tick_label(n * step)
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
    colour = phase_colour(project.phase)
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
        colour = phase_colour(phase)
        parts.append(f'<rect x="{x}" y="{top + 4}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{top + 14}">{_e(phase)}</text>')
        x += 24 + 7 * len(phase)
    key = "◇ approval requested   ◆ decided   ▼ canary step"
    parts.append(f'<text x="{x + 8}" y="{top + 14}" xml:space="preserve">{key}</text>')
    return parts
