"""What the profile and panel APIs tell OpenAPI beyond DRF's defaults, so that a request the schema
calls valid is one the API accepts (schemathesis ST202) - as far as a schema can say it.

- Input objects refuse unknown fields (``StrictInputSerializer``): ``additionalProperties: false``.
- Names: at least one visible character, no NUL (DRF trims whitespace, then refuses a blank or a
  NUL character).
- Money is a JSON number >= 0 with at most six decimals (``multipleOf``), not a free string.
- ``params``: the known keys with their types and ranges (``agents.validation``), nothing else.

Rules between fields or against stored data (a provider's base URL and key variable, prices in
pairs, which params a provider takes, a panel's seats and policy, names that exist or are taken)
cannot be written in OpenAPI 3.0; the serializers' descriptions state them and the API answers
them with a 400 naming the field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.validation import _CHOICE_PARAMS, _LLM_PARAMS, _TEXT_PARAMS

# Visible text: at least one character that is not whitespace, and no NUL anywhere.
NAME_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
TEXT_PATTERN = r"^[^\x00]*$"
MONEY_MAX = Decimal("999999.999999")  # max_digits=12, decimal_places=6


class _Strict(OpenApiSerializerExtension):
    """``additionalProperties: false``: these serializers answer an unknown field with a 400."""

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


class ProfileInputSchema(_Strict):
    target_class = "agents.api.serializers.ProfileInputSerializer"


class PanelInputSchema(_Strict):
    target_class = "agents.api.panel_serializers.PanelInputSerializer"


class PanelSeatInputSchema(_Strict):
    target_class = "agents.api.panel_serializers.PanelSeatInputSerializer"


@extend_schema_field(
    {
        "type": "number",
        "minimum": 0,
        "maximum": float(MONEY_MAX),
        "multipleOf": 0.000001,
        "nullable": True,
    }
)
class MoneyField(serializers.DecimalField):
    """US dollars >= 0 with at most six decimals; null clears it. Documented as a number."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=6, min_value=Decimal(0), allow_null=True, **kwargs)


_TEXT_SET = {k for per in _TEXT_PARAMS.values() for k in per}


def _param_schema(name: str) -> dict[str, Any]:
    if name in _LLM_PARAMS:
        types, low, high = _LLM_PARAMS[name]
        kind = "integer" if types is int else "number"
        return {"type": kind, "minimum": low, "maximum": high}
    choices = sorted({c for per in _CHOICE_PARAMS.values() for c in per.get(name, ())})
    if choices:
        return {"type": "string", "enum": choices}
    return {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"}


def params_schema() -> dict[str, Any]:
    names = sorted({*_LLM_PARAMS, *(k for per in _CHOICE_PARAMS.values() for k in per), *_TEXT_SET})
    return {
        "type": "object",
        "properties": {name: _param_schema(name) for name in names},
        "additionalProperties": False,
        "description": (
            "Call parameters. Which keys a provider takes: rules only `depth`; the others the "
            "numeric ones, plus openai `api`, `reasoning_effort`; anthropic and openai_compatible "
            "`structured` (each provider its own values); `prompt_version` (a prompt set that "
            "exists), openai_compatible `pricing_provider`."
        ),
    }


@extend_schema_field(params_schema())
class ParamsField(serializers.DictField):
    """A profile's call parameters (checked key by key by ``agents.validation.params_errors``)."""


def name_field(**kwargs: Any) -> serializers.CharField:
    return serializers.RegexField(NAME_PATTERN, **kwargs)


def text_field(**kwargs: Any) -> serializers.CharField:
    return serializers.RegexField(TEXT_PATTERN, **kwargs)
