"""What the HTML page and its SVG charts share: escaping, the charts' width, time ticks. Pure."""

from __future__ import annotations

from html import escape
from typing import Any

# Chart geometry, in SVG user units (pixels at 100 %): every chart's width and right margin.
WIDTH = 960
RIGHT = 24
# Tick spacings in seconds: the first that gives at most _TICKS ticks is used.
_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
          1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)  # fmt: skip
_TICKS = 8


def escaped(value: Any) -> str:
    """A value from the journal as HTML text: a dash for none."""
    return escape("–" if value is None or value == "" else str(value), quote=True)


def tick_step(total: float) -> float:
    """The spacing of a time axis's ticks, in seconds, over ``total`` seconds."""
    return next((s for s in _STEPS if total / s <= _TICKS), _STEPS[-1])


def tick_label(seconds: float) -> str:
    """A time since the start, short: "30s", "2m30s", "1h05m", "2d3h"."""
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
