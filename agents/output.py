"""Turning a model's text into a validated object: strict parse first, then local repair.

Local repair uses the ``json-repair`` package, which strips prose and Markdown fences around the
object, removes trailing commas and comments, fixes quoting and closes truncated strings, arrays
and objects. It never invents content; the one addition made here is ``null`` for a missing field
whose schema allows null (an omitted optional, e.g. ``risk_level`` for a non-risk analyst).
"""

from __future__ import annotations

import json
from typing import Any

import json_repair
from pydantic import BaseModel, ValidationError


def describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """A short, readable account of what did not validate (first five errors)."""
    shown = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:5]
    )
    return f"{model.__name__} validation failed: {exc.error_count()} error(s): {shown}"


def parse_strict(
    model: type[BaseModel], text: str, parsed: BaseModel | None = None
) -> tuple[BaseModel | None, str]:
    """The object when ``text`` is exactly a valid JSON object of ``model``; else the reason."""
    if isinstance(parsed, model):
        return parsed, ""
    if not text.strip():
        return None, "Empty answer."
    try:
        return model.model_validate_json(text), ""
    except ValidationError as exc:
        return None, describe(exc, model)


def _nullable_fields(model: type[BaseModel]) -> list[str]:
    return [
        name
        for name, field in model.model_fields.items()
        if field.is_required() and _accepts_none(field.annotation)
    ]


def _accepts_none(annotation: Any) -> bool:
    return annotation is None or type(None) in getattr(annotation, "__args__", ())


def parse_local(model: type[BaseModel], text: str) -> tuple[BaseModel | None, str]:
    """The object after ``json-repair`` (fences, truncation, commas, quotes), or why it still fails."""
    try:
        candidate = json_repair.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, f"Local repair failed: {exc}"
    if isinstance(candidate, list) and len(candidate) == 1:
        candidate = candidate[0]
    if not isinstance(candidate, dict) or not candidate:
        return None, "Local repair found no JSON object in the answer."
    for name in _nullable_fields(model):
        candidate.setdefault(name, None)
    try:
        return model.model_validate(candidate), ""
    except ValidationError as exc:
        return None, describe(exc, model)


def repaired_text(output: BaseModel) -> str:
    return json.dumps(output.model_dump(mode="json"), ensure_ascii=False)
