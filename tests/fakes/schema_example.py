"""Build a small, valid example object for a JSON schema.

The fake LLM server answers structured-output requests with an object made from the schema the SDK
sent, so tests get a reply the SDK's own pydantic validation accepts without scripting every field.
Only what pydantic and the two SDKs emit is covered: ``$ref``/``$defs``, ``anyOf``/``oneOf``/
``allOf``, ``enum``/``const``, numeric bounds, string length/format/simple patterns and array length.

Anthropic's SDK moves unsupported keywords (``minimum``, ``maxLength``, ``pattern`` ...) out of the
schema and into the description as a ``{minimum: 0.0, maximum: 1.0}`` trailer; those are read back so
the example still passes the client-side validation that keeps the original constraints.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["example_for_schema"]

Schema = Mapping[str, Any]

_MAX_DEPTH = 32
_STRING_FORMATS: dict[str, str] = {
    "date-time": "2024-01-02T03:04:05Z",
    "date": "2024-01-02",
    "time": "03:04:05",
    "duration": "P1D",
    "email": "analyst@example.com",
    "hostname": "example.com",
    "uri": "https://example.com/",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_TRAILER = re.compile(r"\{([^{}]*)\}\s*$")
_TRAILER_ITEM = re.compile(r"(\w+): (.*?)(?=, \w+: |$)")
_NUMERIC_KEYWORDS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
)
_LITERAL_ALTERNATION = re.compile(r"\^?\(?([\w .-]+(?:\|[\w .-]+)*)\)?\$?")


def example_for_schema(schema: Schema) -> Any:
    """Return a JSON-compatible value that validates against ``schema`` (the root of any ``$ref``)."""
    return _Walker(schema).value(schema, index=0, depth=0)


class _Walker:
    """Walks one schema document; holds the root so ``$ref`` pointers can be resolved."""

    def __init__(self, root: Schema) -> None:
        self.root = root

    def value(self, schema: Schema, *, index: int, depth: int) -> Any:
        """Dispatch on the keyword that decides the shape, most specific first."""
        if depth > _MAX_DEPTH:
            return None
        schema = _with_description_constraints(schema)
        if "$ref" in schema:
            return self.value(self.resolve(schema["$ref"]), index=index, depth=depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][index % len(schema["enum"])]
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return self.value(_prefer_non_null(schema[keyword]), index=index, depth=depth + 1)
        if "allOf" in schema:
            return self.all_of(schema["allOf"], index=index, depth=depth)
        return self.typed(schema, _schema_type(schema), index=index, depth=depth)

    def typed(self, schema: Schema, type_: str, *, index: int, depth: int) -> Any:
        """Build a value for a schema whose ``type`` is known."""
        if type_ == "object":
            return self.obj(schema, depth=depth)
        if type_ == "array":
            return self.array(schema, depth=depth)
        if type_ in ("number", "integer"):
            return _number(schema, integer=type_ == "integer")
        if type_ == "boolean":
            return True
        if type_ == "null":
            return None
        return _string(schema, index=index)

    def obj(self, schema: Schema, *, depth: int) -> dict[str, Any]:
        """Fill the required properties only: the smallest object that still validates."""
        properties: Mapping[str, Schema] = schema.get("properties", {})
        return {
            name: self.value(properties.get(name, {}), index=0, depth=depth + 1)
            for name in schema.get("required", [])
        }

    def array(self, schema: Schema, *, depth: int) -> list[Any]:
        """One item (or ``minItems``), never more than ``maxItems``; tuples follow ``prefixItems``."""
        if "prefixItems" in schema:
            return [self.value(item, index=0, depth=depth + 1) for item in schema["prefixItems"]]
        count = max(1, int(schema.get("minItems", 1)))
        count = min(count, int(schema.get("maxItems", count)))
        items: Schema = schema.get("items", {})
        return [self.value(items, index=i, depth=depth + 1) for i in range(count)]

    def all_of(self, parts: list[Schema], *, index: int, depth: int) -> Any:
        """Merge object parts; for anything else the first part decides the value."""
        values = [self.value(part, index=index, depth=depth + 1) for part in parts]
        if values and all(isinstance(value, dict) for value in values):
            merged: dict[str, Any] = {}
            for value in values:
                merged.update(value)
            return merged
        return values[0] if values else None

    def resolve(self, ref: str) -> Schema:
        """Follow a local JSON pointer such as ``#/$defs/Signal``."""
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref pointers are supported, got {ref!r}")
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if part:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        resolved: Schema = node
        return resolved


def _schema_type(schema: Schema) -> str:
    """The first non-null ``type``; guess ``object``/``array`` from their keywords when it is missing."""
    type_ = schema.get("type")
    if isinstance(type_, list):
        non_null = [t for t in type_ if t != "null"]
        return non_null[0] if non_null else "null"
    if isinstance(type_, str):
        return type_
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _prefer_non_null(variants: list[Schema]) -> Schema:
    """Optional fields are more useful to callers filled in, so skip the ``null`` branch if possible."""
    for variant in variants:
        if variant.get("type") != "null":
            return variant
    return variants[0] if variants else {}


def _number(schema: Schema, *, integer: bool) -> int | float:
    """Midpoint of the bounds when both exist, otherwise a small value nudged inside the one bound."""
    low, high = _bound(schema, "minimum", "exclusiveMinimum"), _bound(schema, "maximum", "exclusiveMaximum")
    if low is not None and high is not None:
        value = (low[0] + high[0]) / 2
    elif low is not None:
        value = low[0] + (1 if low[1] else 0)
    elif high is not None:
        value = min(high[0] - (1 if high[1] else 0), 1 if integer else 0.5)
    else:
        value = 1 if integer else 0.5
    if not integer:
        return float(value)
    candidate = math.floor(value)
    if low is not None and (candidate < low[0] or (low[1] and candidate == low[0])):
        candidate = math.floor(low[0]) + 1
    return int(candidate)


def _bound(schema: Schema, inclusive: str, exclusive: str) -> tuple[float, bool] | None:
    """A bound as ``(value, is_exclusive)``; also accepts draft-4 boolean ``exclusiveMinimum``."""
    value = schema.get(exclusive)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), True
    if inclusive in schema:
        return float(schema[inclusive]), value is True
    return None


def _string(schema: Schema, *, index: int) -> str:
    """A recognisable placeholder that honours format, simple patterns and length limits."""
    text = _STRING_FORMATS.get(str(schema.get("format")))
    if text is None:
        text = _pattern_example(schema.get("pattern")) or ("ok" if index == 0 else f"ok{index}")
    min_length = int(schema.get("minLength", 0))
    if len(text) < min_length:
        text += "k" * (min_length - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _pattern_example(pattern: Any) -> str | None:
    """First alternative of a literal alternation like ``^(market|limit)$``; ``None`` if not one."""
    if not isinstance(pattern, str):
        return None
    match = _LITERAL_ALTERNATION.fullmatch(pattern)
    return match.group(1).split("|")[0] if match else None


def _with_description_constraints(schema: Schema) -> Schema:
    """Re-attach constraints the Anthropic SDK folded into the description's ``{k: v, ...}`` trailer."""
    description = schema.get("description")
    match = _TRAILER.search(description) if isinstance(description, str) else None
    if match is None:
        return schema
    extra: dict[str, Any] = {}
    for key, raw in _TRAILER_ITEM.findall(match.group(1)):
        if key in schema:
            continue
        if key in _NUMERIC_KEYWORDS:
            extra[key] = _parse_number(raw)
        elif key in ("pattern", "format"):
            extra[key] = raw
    extra = {key: value for key, value in extra.items() if value is not None}
    return {**schema, **extra} if extra else schema


def _parse_number(raw: str) -> float | None:
    """Parse a trailer value such as ``0.0`` or ``20``; ``None`` when it is not a number."""
    try:
        return float(raw)
    except ValueError:
        return None
