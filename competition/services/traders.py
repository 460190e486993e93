"""Writes of trader profiles: create, update, delete (a trader that ran in a competition is kept)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from agents.models import Panel
from debates.models import Instrument

from ..errors import TraderInUseError
from ..models import TraderProfile

TRADER_FIELDS = (
    "description",
    "panel",
    "symbols",
    "starting_capital",
    "sizing_fraction",
    "sizing_notional",
    "max_position_notional",
    "max_order_notional",
    "max_daily_notional",
    "allow_short",
    "slippage_bps",
    "commission_bps",
    "rebalance_frequency",
    "broker",
    "active",
)


def symbols_normalise(symbols: Iterable[str], *, field: str = "symbols") -> list[str]:
    """Upper-case, de-duplicated (order kept) symbols that exist as instruments.

    Raises ValidationError naming ``field`` and every unknown symbol.
    """
    result: list[str] = []
    for raw in symbols:
        if not isinstance(raw, str) or not raw.strip():
            raise ValidationError({field: ["Symbols must be non-empty strings."]})
        symbol = raw.strip().upper()
        if symbol not in result:
            result.append(symbol)
    known = set(Instrument.objects.filter(symbol__in=result).values_list("symbol", flat=True))
    unknown = [s for s in result if s not in known]
    if unknown:
        raise ValidationError({field: [f"Unknown symbol(s): {', '.join(unknown)}."]})
    return result


def _panel(value: Panel | str) -> Panel:
    if isinstance(value, Panel):
        return value
    panel = Panel.objects.filter(name=value).first()
    if panel is None:
        raise ValidationError({"panel": [f"Unknown panel {value!r}."]})
    return panel


def _apply(trader: TraderProfile, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name not in TRADER_FIELDS and name != "name":
            raise ValidationError({name: ["Unknown field."]})
        if name == "panel":
            value = _panel(value)
        elif name == "symbols":
            value = symbols_normalise(value)
        setattr(trader, name, value)


@transaction.atomic
def trader_profile_create(*, name: str, panel: Panel | str, **fields: Any) -> TraderProfile:
    """Validate and store a trader. Raises ValidationError per field (unknown panel or symbol, limits)."""
    trader = TraderProfile(name=name.strip())
    _apply(trader, {"panel": panel, **fields})
    trader.full_clean()
    trader.save()
    return trader


@transaction.atomic
def trader_profile_update(*, trader: TraderProfile, **fields: Any) -> TraderProfile:
    """Change a trader's settings; runs already made keep the accounts they were given."""
    trader = TraderProfile.objects.select_for_update().get(pk=trader.pk)
    if "name" in fields:
        fields["name"] = str(fields["name"]).strip()
    _apply(trader, fields)
    trader.full_clean()
    trader.save()
    return trader


@transaction.atomic
def trader_profile_delete(*, trader: TraderProfile) -> None:
    """Delete a trader that never competed; one with runs is evidence and is refused (deactivate it)."""
    try:
        trader.delete()
    except ProtectedError as exc:
        raise TraderInUseError(
            f"Trader {trader.name!r} took part in competition runs; deactivate it instead of deleting it."
        ) from exc
