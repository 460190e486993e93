"""Template tags drawing the hub's SVG charts (see arena_project/hub/charts.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django import template
from django.utils.safestring import SafeString

from arena_project.hub import charts, formatting
from arena_project.hub.selectors import Histogram, TimelineEntry

register = template.Library()

FORMATS: dict[str, charts.Formatter] = {
    "money": formatting.money,
    "percent": formatting.percent,
    "count": formatting.count,
    "compact": formatting.compact,
    "duration": formatting.duration_ms,
    "price": lambda v: f"{v:,.2f}",
    "dollars": lambda v: f"-${-v:,.0f}" if v < 0 else f"${v:,.0f}",
    "pp": lambda v: f"{v:+.1f} pp",
    "date": lambda v: dt.date.fromordinal(max(int(v), 1)).strftime("%d %b %y"),
}


def _format(name: str) -> charts.Formatter:
    try:
        return FORMATS[name]
    except KeyError:
        raise template.TemplateSyntaxError(
            f"Unknown chart format {name!r}; use one of {sorted(FORMATS)}."
        ) from None


@register.simple_tag
def histogram_chart(
    hist: Histogram, title: str, unit: str = "items", empty: str = "No data yet."
) -> SafeString:
    return charts.histogram(
        hist.counts, hist.edges, title=title, edge_format=formatting.percent, unit=unit, empty=empty
    )


@register.simple_tag
def bar_chart(
    items: Sequence[tuple[str, float]], title: str, value_format: str = "count", empty: str = "No data yet."
) -> SafeString:
    return charts.bar_chart(items, title=title, value_format=_format(value_format), empty=empty)


@register.simple_tag
def line_chart(
    points: Sequence[tuple[float, float]],
    title: str,
    name: str = "",
    y_format: str = "price",
    x_format: str = "date",
) -> SafeString:
    series = [charts.Series(name or title, points)]
    return charts.line_chart(series, title=title, y_format=_format(y_format), x_format=_format(x_format))


@register.simple_tag
def timeline_chart(entries: Sequence[TimelineEntry], title: str) -> SafeString:
    spans = [charts.Span(e.label, e.start_ms, e.duration_ms, e.kind, e.detail) for e in entries]
    return charts.timeline(spans, title=title, time_format=formatting.duration_ms)


@register.simple_tag
def scatter_chart(
    points: Sequence[Any],
    title: str,
    x_label: str,
    y_label: str,
    x_format: str = "money",
    y_format: str = "percent",
    y_share: bool = True,
    x_share: bool = False,
    diagonal: bool = False,
    empty: str = "No data yet.",
) -> SafeString:
    """Dots from (x, y, label) triples; ``y_share`` / ``x_share`` draw that axis over 0..100%,
    ``diagonal`` the line y = x."""
    dots = [charts.Point(float(p[0]), float(p[1]), str(p[2])) for p in points]
    return charts.scatter(
        dots,
        title=title,
        x_label=x_label,
        y_label=y_label,
        x_format=_format(x_format),
        y_format=_format(y_format),
        y_range=(0.0, 1.0) if y_share else None,
        x_range=(0.0, 1.0) if x_share else None,
        diagonal=diagonal,
        empty=empty,
    )


@register.simple_tag
def multi_line_chart(
    series: Sequence[charts.Series], title: str, y_format: str = "money", x_format: str = "date"
) -> SafeString:
    """Several named lines on one chart (equity curves of a competition's entries)."""
    return charts.line_chart(
        series, title=title, y_format=_format(y_format), x_format=_format(x_format), height=280
    )
