"""Template filters that format numbers the hub's way (see arena_project/hub/formatting.py).

Filters return plain strings, so the template engine still escapes whatever they are given.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from arena_project.hub import formatting

register = template.Library()

_JSON_LIMIT = 200_000


@register.filter
def money(value: Any) -> str:
    return formatting.money(value)


@register.filter
def percent(value: Any, digits: int = 0) -> str:
    return formatting.percent(value, int(digits))


@register.filter
def count(value: Any) -> str:
    return formatting.count(value)


@register.filter
def compact(value: Any) -> str:
    return formatting.compact(value)


@register.filter
def duration(value: Any) -> str:
    """Milliseconds, formatted (850 ms, 1.2 s, 2 min 05 s)."""
    return formatting.duration_ms(value)


@register.simple_tag(takes_context=True)
def page_query(context: dict[str, Any], number: int, param: str = "page") -> str:
    """The current query string with ``param`` set to ``number`` (a page of one of several tables)."""
    query = context["request"].GET.copy()
    query[param] = str(number)
    return "?" + query.urlencode()


@register.filter
def interval(value: Any, kind: str = "percent") -> str:
    """A 95 % interval from an object with ``low`` and ``high`` (a leaderboard ``Rate``) or a
    (low, high) pair: "48% to 75%", "+1.0% to +3.5%" for returns, "-0.21 to 1.30" for a ratio."""
    if isinstance(value, tuple):
        low, high = value
    else:
        low, high = getattr(value, "low", None), getattr(value, "high", None)
    if low is None or high is None:
        return formatting.MISSING
    if kind == "percent":
        return f"{formatting.percent(low)} to {formatting.percent(high)}"
    if kind == "signed_percent":
        return f"{formatting.signed_percent(low)} to {formatting.signed_percent(high)}"
    return f"{float(low):.2f} to {float(high):.2f}"


@register.filter
def signed_percent(value: Any, digits: int = 1) -> str:
    """A return (0.0123) as "+1.2%"."""
    return formatting.signed_percent(value, int(digits))


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON as text (escaped by the template like any string); very long documents are cut."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > _JSON_LIMIT:
        return text[:_JSON_LIMIT] + f"\n… cut at {_JSON_LIMIT:,} characters; the API has the whole result."
    return text


@register.filter
def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))


@register.simple_tag
def render_section(value: Any) -> SafeString:
    """Render a section another app added to a debate (a dict, a list of dicts, or a scalar).

    The structure is unknown here, so it is shown generically: a definition list for a dict, a
    table for a list of dicts, indented JSON for anything nested deeper. Every value is escaped.
    """
    if value is None or value == [] or value == {}:
        return format_html('<p class="muted">{}</p>', "Nothing recorded.")
    if isinstance(value, dict):
        return format_html(
            '<dl class="kv">{}</dl>',
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", ((k, _cell(v)) for k, v in value.items())),
        )
    if isinstance(value, list) and all(isinstance(row, dict) for row in value):
        keys: list[str] = []
        for row in value:
            keys.extend(k for k in row if k not in keys)
        head = format_html_join("", "<th>{}</th>", ((k,) for k in keys))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((_cell(row.get(k)),) for k in keys)),) for row in value),
        )
        return format_html(
            '<div class="table-wrap"><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>',
            head,
            body,
        )
    return format_html("<pre>{}</pre>", pretty_json(value))


def _cell(value: Any) -> SafeString:
    if isinstance(value, dict | list):
        return format_html("<code>{}</code>", compact_json(value))
    if value is None or value == "":
        return format_html("{}", formatting.MISSING)
    return format_html("{}", value)


@register.filter
def sign_class(value: Any) -> str:
    """``ok`` for a gain, ``bad`` for a loss, empty for zero or nothing (a PnL's colour)."""
    number = formatting._decimal(value)
    if number is None or number == 0:
        return ""
    return "ok" if number > 0 else "bad"


@register.filter
def when(value: Any) -> str:
    """An ISO timestamp from a serialized section, readable: ``2025-06-02 14:30:05`` (UTC offset dropped)."""
    if not value:
        return formatting.MISSING
    text = str(value).replace("T", " ")
    return text[:19]


@register.filter
def qty(value: Any) -> str:
    """A share quantity without trailing zeros (``90.00000000`` -> ``90``, ``0.50`` -> ``0.5``)."""
    number = formatting._decimal(value)
    if number is None:
        return formatting.MISSING
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
