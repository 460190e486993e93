"""Small SVG charts rendered on the server: no JavaScript library, no CDN, nothing fetched.

Each function returns markup safe to put in a template: every label and tooltip is escaped here,
numbers are written by this module, and colours come from CSS classes (``static/hub/hub.css``), so
the charts follow the page's theme. The SVGs scale to their container's width (``viewBox``), which
keeps them readable on a phone. Hovering a bar or point shows its ``<title>`` as a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

Formatter = Callable[[float], str]

_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 34
_SERIES_CLASSES = 6  # .series-0 .. .series-5 in hub.css


@dataclass(frozen=True)
class Series:
    """One line of a line chart: ``points`` are (x, y) pairs in ascending x."""

    name: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Point:
    """One dot of a scatter plot; ``label`` names it in the tooltip and beside the dot."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Span:
    """One bar of a timeline: starts ``start_ms`` after time zero, lasts ``duration_ms``."""

    label: str
    start_ms: float
    duration_ms: float
    kind: str = "default"  # a CSS class suffix: tool, analyst, judge, escalation ...
    detail: str = ""


def _plain(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


def _num(value: float) -> str:
    """An SVG coordinate: short, and never in scientific notation."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value (an axis maximum)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _empty(message: str) -> SafeString:
    return format_html('<div class="chart-empty">{}</div>', message)


def _open(kind: str, title: str, width: int, height: int) -> str:
    return (
        f'<div class="chart-scroll"><svg class="chart chart-{kind}" viewBox="0 0 {width} {height}" '
        'role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>"
    )


def axis_ticks(vmax: float, *, integer: bool = False) -> list[float]:
    """Evenly spaced "nice" tick values from 0 covering ``vmax``: at most five, whole numbers if asked."""
    step = nice_ceiling(max(vmax, 0) / 4 or 0.25)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    n = max(1, math.ceil(max(vmax, 0) / step - 1e-9))
    return [step * i for i in range(n + 1)]


def _y_axis(
    top: float, bottom: float, left: float, right: float, ticks: Sequence[float], fmt: Formatter
) -> list[str]:
    parts = []
    ymax = ticks[-1]
    for value in ticks:
        y = bottom - (bottom - top) * value / ymax
        parts.append(f'<line class="grid" x1="{left}" x2="{_num(right)}" y1="{_num(y)}" y2="{_num(y)}"/>')
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    return parts


def _every(slot: float, longest: int) -> int:
    """Label every n-th slot so that labels of ``longest`` characters do not overlap."""
    return max(1, math.ceil((longest * 6.5 + 6) / max(slot, 1)))


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    value_format: Formatter = _plain,
    width: int = 560,
    height: int = 220,
    empty: str = "No data yet.",
) -> SafeString:
    """Vertical bars, one per (label, value); negative values are drawn as zero-height bars."""
    if not items:
        return _empty(empty)
    bottom, right = height - _BOTTOM, width - _RIGHT
    integer = all(float(v).is_integer() for _, v in items)
    ticks = axis_ticks(max(v for _, v in items), integer=integer)
    ymax = ticks[-1]
    slot = (right - _LEFT) / len(items)
    bar_width = max(slot * 0.7, 1)
    every = _every(slot, max(len(label) for label, _ in items))
    parts = [_open("bar", title, width, height), *_y_axis(_TOP, bottom, _LEFT, right, ticks, value_format)]
    for i, (label, value) in enumerate(items):
        h = (bottom - _TOP) * max(value, 0) / ymax
        x = _LEFT + slot * i + (slot - bar_width) / 2
        tip = f"{label}: {value_format(value)}"
        parts.append(
            f'<rect class="bar series-0" x="{_num(x)}" y="{_num(bottom - h)}" width="{_num(bar_width)}" '
            f'height="{_num(h)}"><title>{escape(tip)}</title></rect>'
        )
        if (len(items) - 1 - i) % every == 0:  # always label the last (most recent) bar
            parts.append(
                f'<text class="tick" x="{_num(x + bar_width / 2)}" y="{bottom + 16}" text-anchor="middle">'
                f"{escape(_short(label, 14))}</text>"
            )
    parts.append(f'<line class="axis" x1="{_LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}"/></svg></div>')
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text above is escaped


def histogram(
    counts: Sequence[int],
    edges: Sequence[float],
    *,
    title: str,
    edge_format: Formatter = _plain,
    unit: str = "items",
    width: int = 560,
    height: int = 220,
    empty: str = "No data yet.",
) -> SafeString:
    """Adjacent bars over ``len(counts) + 1`` bin edges; the tooltip names the bin and its count."""
    if len(edges) != len(counts) + 1:
        raise ValueError("A histogram needs one more edge than counts.")
    if not any(counts):
        return _empty(empty)
    bottom, right = height - _BOTTOM, width - _RIGHT
    ticks = axis_ticks(max(counts), integer=True)
    ymax = ticks[-1]
    slot = (right - _LEFT) / len(counts)
    parts = [_open("histogram", title, width, height), *_y_axis(_TOP, bottom, _LEFT, right, ticks, _plain)]
    for i, n in enumerate(counts):
        h = (bottom - _TOP) * n / ymax
        x = _LEFT + slot * i
        tip = f"{edge_format(edges[i])} to {edge_format(edges[i + 1])}: {n:,} {unit}"
        parts.append(
            f'<rect class="bar series-0" x="{_num(x + 1)}" y="{_num(bottom - h)}" width="{_num(slot - 2)}" '
            f'height="{_num(h)}"><title>{escape(tip)}</title></rect>'
        )
    step = max(1, len(counts) // 5)
    for i in range(0, len(edges), step):
        x = _LEFT + slot * i
        anchor = "end" if i == len(edges) - 1 else "start" if i == 0 else "middle"
        parts.append(
            f'<text class="tick" x="{_num(x)}" y="{bottom + 16}" text-anchor="{anchor}">'
            f"{escape(edge_format(edges[i]))}</text>"
        )
    parts.append(f'<line class="axis" x1="{_LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}"/></svg></div>')
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text above is escaped


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo == hi:
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_format: Formatter = _plain,
    x_format: Formatter = _plain,
    width: int = 560,
    height: int = 240,
    empty: str = "No data yet.",
) -> SafeString:
    """One or more lines on shared axes, with a legend when there is more than one series."""
    points = [p for s in series for p in s.points]
    if not points:
        return _empty(empty)
    bottom, right = height - _BOTTOM, width - _RIGHT
    x_lo, x_hi = _bounds([p[0] for p in points])
    y_lo, y_hi = _bounds([p[1] for p in points])

    def sx(x: float) -> float:
        return _LEFT + (right - _LEFT) * (x - x_lo) / (x_hi - x_lo)

    def sy(y: float) -> float:
        return bottom - (bottom - _TOP) * (y - y_lo) / (y_hi - y_lo)

    parts = [_open("line", title, width, height)]
    for i in range(5):
        value = y_lo + (y_hi - y_lo) * i / 4
        y = sy(value)
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{right}" y1="{_num(y)}" y2="{_num(y)}"/>')
        parts.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{escape(y_format(value))}</text>"
        )
    for i in range(3):
        value = x_lo + (x_hi - x_lo) * (0.05 + 0.45 * i)
        parts.append(
            f'<text class="tick" x="{_num(sx(value))}" y="{bottom + 16}" text-anchor="middle">'
            f"{escape(x_format(value))}</text>"
        )
    for n, s in enumerate(series):
        if not s.points:
            continue
        path = " ".join(f"{_num(sx(x))},{_num(sy(y))}" for x, y in s.points)
        last_x, last_y = s.points[-1]
        tip = f"{s.name}: last {y_format(last_y)} at {x_format(last_x)}"
        parts.append(
            f'<polyline class="line series-{n % _SERIES_CLASSES}" points="{path}">'
            f"<title>{escape(tip)}</title></polyline>"
        )
    if len(series) > 1:
        for n, s in enumerate(series):
            y = _TOP + 4 + 14 * n
            parts.append(
                f'<rect class="legend series-{n % _SERIES_CLASSES}" x="{_LEFT + 8}" y="{y}" width="10" '
                f'height="10"/><text class="legend-label" x="{_LEFT + 22}" y="{y + 9}">'
                f"{escape(s.name)}</text>"
            )
    parts.append(f'<line class="axis" x1="{_LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}"/></svg></div>')
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text above is escaped


def scatter(
    points: Sequence[Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_format: Formatter = _plain,
    y_format: Formatter = _plain,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    width: int = 560,
    height: int = 260,
    empty: str = "No data yet.",
    diagonal: bool = False,
) -> SafeString:
    """Labelled dots on two axes (e.g. cost against hit rate per profile).

    Axes start at zero unless a range is given (a share is best drawn over (0, 1)). A dot's label is
    left out where it would overlap one already drawn; its tooltip still names it. ``diagonal`` draws
    the line y = x (where a calibrated forecaster's dots sit: confidence equal to hit rate).
    """
    if not points:
        return _empty(empty)
    top, bottom, right = _TOP + 12, height - _BOTTOM - 6, width - _RIGHT
    x_lo, x_hi = x_range or (min(0.0, *(p.x for p in points)), axis_ticks(max(p.x for p in points))[-1])
    y_lo, y_hi = y_range or (min(0.0, *(p.y for p in points)), axis_ticks(max(p.y for p in points))[-1])
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    if y_hi <= y_lo:
        y_hi = y_lo + 1

    def sx(x: float) -> float:
        return _LEFT + (right - _LEFT) * (x - x_lo) / (x_hi - x_lo)

    def sy(y: float) -> float:
        return bottom - (bottom - top) * (y - y_lo) / (y_hi - y_lo)

    parts = [_open("scatter", title, width, height)]
    for i in range(5):
        y_value, x_value = y_lo + (y_hi - y_lo) * i / 4, x_lo + (x_hi - x_lo) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{right}" '
            f'y1="{_num(sy(y_value))}" y2="{_num(sy(y_value))}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{_num(sy(y_value) + 4)}" text-anchor="end">'
            f"{escape(y_format(y_value))}</text>"
            f'<text class="tick" x="{_num(sx(x_value))}" y="{bottom + 16}" text-anchor="{anchor}">'
            f"{escape(x_format(x_value))}</text>"
        )
    if diagonal:
        lo, hi = max(x_lo, y_lo), min(x_hi, y_hi)
        if hi > lo:
            parts.append(
                f'<line class="reference" x1="{_num(sx(lo))}" y1="{_num(sy(lo))}" '
                f'x2="{_num(sx(hi))}" y2="{_num(sy(hi))}"><title>y = x</title></line>'
            )
    placed: list[tuple[float, float]] = []
    for p in points:
        cx, cy = sx(p.x), sy(p.y)
        tip = f"{p.label}: {x_label} {x_format(p.x)}, {y_label} {y_format(p.y)}"
        parts.append(
            f'<circle class="dot series-0" cx="{_num(cx)}" cy="{_num(cy)}" r="5">'
            f"<title>{escape(tip)}</title></circle>"
        )
        label = _short(p.label, 18)
        lx = cx + 7 if cx + 7 + len(label) * 6 < right else cx - 7 - len(label) * 6
        if all(abs(lx - x) > 110 or abs(cy - y) > 13 for x, y in placed):
            placed.append((lx, cy))
            parts.append(
                f'<text class="point-label" x="{_num(lx)}" y="{_num(cy - 6)}">{escape(label)}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        f'<text class="axis-label" x="{_num((_LEFT + right) / 2)}" y="{height - 4}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text class="axis-label" x="12" y="{_num((top + bottom) / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_num((top + bottom) / 2)})">{escape(y_label)}</text></svg></div>'
    )
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text above is escaped


def timeline(
    spans: Sequence[Span],
    *,
    title: str,
    time_format: Formatter = _plain,
    width: int = 960,
    row_height: int = 22,
    label_width: int = 170,
    empty: str = "No calls recorded.",
) -> SafeString:
    """Horizontal bars on a shared time axis, one row per span (a Gantt chart of a debate's calls)."""
    if not spans:
        return _empty(empty)
    end = max(s.start_ms + max(s.duration_ms, 0) for s in spans)
    ticks = axis_ticks(end or 1.0, integer=True)
    scale_max = ticks[-1]
    right = width - _RIGHT
    height = _TOP + row_height * len(spans) + _BOTTOM

    def sx(ms: float) -> float:
        return label_width + (right - label_width) * ms / scale_max

    axis_y = _TOP + row_height * len(spans)
    parts = [_open("timeline", title, width, height)]
    for ms in ticks:
        anchor = "end" if ms == scale_max else "middle"
        parts.append(
            f'<line class="grid" x1="{_num(sx(ms))}" x2="{_num(sx(ms))}" y1="{_TOP}" y2="{axis_y}"/>'
            f'<text class="tick" x="{_num(sx(ms))}" y="{axis_y + 16}" text-anchor="{anchor}">'
            f"{escape(time_format(ms))}</text>"
        )
    for row, span in enumerate(spans):
        y = _TOP + row_height * row
        w = max((right - label_width) * max(span.duration_ms, 0) / scale_max, 2)
        tip = f"{span.label}: starts {time_format(span.start_ms)}, lasts {time_format(span.duration_ms)}"
        if span.detail:
            tip += f" ({span.detail})"
        kind = "".join(c for c in span.kind if c.isalnum() or c in "-_") or "default"
        parts.append(
            f'<text class="row-label" x="{label_width - 6}" y="{y + row_height * 0.68:.1f}" '
            f'text-anchor="end">{escape(_short(span.label, 24))}</text>'
            f'<rect class="span span-{kind}" x="{_num(sx(span.start_ms))}" y="{y + 3}" width="{_num(w)}" '
            f'height="{row_height - 6}" rx="3"><title>{escape(tip)}</title></rect>'
        )
    parts.append(
        f'<line class="axis" x1="{label_width}" x2="{right}" y1="{axis_y}" y2="{axis_y}"/></svg></div>'
    )
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text above is escaped
