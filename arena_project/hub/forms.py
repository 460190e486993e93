"""Forms of the hub: trying a tool, filtering the leaderboard, starting a competition."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from agents.models import Provider, Role, Tier
from arena_project.hub.selectors import ACTIVITY_SORTS, WINDOWS
from competition.models import TraderProfile
from competition.selectors import SORT_FIELDS, LeaderboardQuery

SYMBOL_TOOLS = {"get_quote", "get_bars"}
_symbol = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9.\-]{0,15}$", "Letters, digits, '.' or '-', starting with a letter."
)


class ToolTryForm(forms.Form):
    """One tool call's arguments. Which fields are required depends on the tool chosen."""

    tool = forms.ChoiceField()
    symbol = forms.CharField(
        required=False,
        max_length=16,
        validators=[_symbol],
        widget=forms.TextInput(attrs={"list": "known-symbols", "autocomplete": "off", "placeholder": "ACME"}),
    )
    as_of = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="Sees nothing later.")
    lookback = forms.IntegerField(
        required=False, min_value=1, max_value=5000, initial=30, help_text="Bars (get_bars only)."
    )

    def __init__(self, *args: Any, tool_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tool_field = self.fields["tool"]
        assert isinstance(tool_field, forms.ChoiceField)  # noqa: S101 - narrowing for mypy
        tool_field.choices = [(name, name) for name in tool_names]

    def clean_symbol(self) -> str:
        return str(self.cleaned_data.get("symbol") or "").strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tool = data.get("tool")
        if tool in SYMBOL_TOOLS and not data.get("symbol") and "symbol" not in self.errors:
            self.add_error("symbol", f"{tool} needs a symbol.")
        if tool == "get_bars" and data.get("lookback") is None and "lookback" not in self.errors:
            self.add_error("lookback", "get_bars needs how many bars to look back.")
        return data

    def arguments(self) -> dict[str, Any]:
        """The validated arguments for the chosen tool (call only after ``is_valid()``)."""
        data = self.cleaned_data
        args: dict[str, Any] = {"as_of": data["as_of"]}
        if data["tool"] in SYMBOL_TOOLS:
            args["symbol"] = data["symbol"]
        if data["tool"] == "get_bars":
            args["lookback"] = data["lookback"]
        return args


def _choices(enum: type[Any], blank: str) -> list[tuple[str, str]]:
    return [("", blank), *enum.choices]


LEADERBOARD_KINDS = [("agents", "Agent profiles"), ("traders", "Trader profiles")]
LEADERBOARD_SORTS = [*SORT_FIELDS, *(f"-{f}" for f in SORT_FIELDS)]
DEFAULT_LEADERBOARD_SORT = "-hit_rate_low"


class LeaderboardFilterForm(forms.Form):
    """Window, filters and sorting of the leaderboard page (and of its agent activity table).

    Anything invalid is reported on the page and replaced by its default, never a 500: the page is
    reached by hand-edited URLs too. ``sort`` orders the rankings (the selector's columns, ``-`` for
    descending), ``activity_sort`` the activity table.
    """

    kind = forms.ChoiceField(choices=LEADERBOARD_KINDS, required=False, initial="agents")
    window = forms.ChoiceField(choices=[(w, w) for w in WINDOWS], required=False, initial="30d")
    role = forms.ChoiceField(choices=_choices(Role, "any role"), required=False)
    provider = forms.ChoiceField(choices=_choices(Provider, "any provider"), required=False)
    tier = forms.ChoiceField(choices=_choices(Tier, "any tier"), required=False)
    symbol = forms.CharField(required=False, max_length=16, validators=[_symbol])
    sort = forms.ChoiceField(
        choices=[(s, s) for s in LEADERBOARD_SORTS], required=False, initial=DEFAULT_LEADERBOARD_SORT
    )
    activity_sort = forms.ChoiceField(
        choices=[(s, s) for s in ACTIVITY_SORTS], required=False, initial="answers"
    )

    def filters(self) -> dict[str, str]:
        """The valid values, with defaults for anything missing or invalid (field by field)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "kind": data.get("kind") or "agents",
            "window": data.get("window") or "30d",
            "role": data.get("role") or "",
            "provider": data.get("provider") or "",
            "tier": data.get("tier") or "",
            "symbol": (data.get("symbol") or "").upper(),
            "sort": data.get("sort") or DEFAULT_LEADERBOARD_SORT,
            "activity_sort": data.get("activity_sort") or "answers",
        }

    def query(self) -> LeaderboardQuery:
        """The selector's query; role, provider and tier only filter agent profiles."""
        f = self.filters()
        agents = f["kind"] == "agents"
        return LeaderboardQuery(
            kind=f["kind"],
            window=f["window"],
            role=(f["role"] or None) if agents else None,
            provider=(f["provider"] or None) if agents else None,
            tier=(f["tier"] or None) if agents else None,
            symbol=f["symbol"] or None,
            sort=f["sort"],
        )


def default_as_of(latest: dt.date | None) -> dt.date:
    return latest or dt.date.today()  # noqa: DTZ011 - a calendar date for a form's initial value


class CompetitionStartForm(forms.Form):
    """A backtest to start from the hub, in two steps: ``estimate`` shows the cost estimate and the
    budget guard's verdict, ``confirm`` creates and enqueues the run.

    The form only parses its fields; the rules of a run (how many traders and symbols, the period,
    the traders' universes) are ``competition_run_plan``'s, whose errors the view shows at the field
    they name.
    """

    STEPS = (("estimate", "estimate"), ("confirm", "confirm"))

    step = forms.ChoiceField(choices=STEPS, widget=forms.HiddenInput, initial="estimate")
    name = forms.CharField(required=False, max_length=200, help_text="Optional, to find the run again.")
    traders = forms.ModelMultipleChoiceField(
        queryset=TraderProfile.objects.none(),
        to_field_name="name",
        widget=forms.CheckboxSelectMultiple,
        help_text="Each competes with its own book; buy-and-hold and a random trader are added.",
    )
    symbols = forms.CharField(
        max_length=400,
        widget=forms.TextInput(
            attrs={"list": "known-symbols", "autocomplete": "off", "placeholder": "ACME, DUNE"}
        ),
        help_text="Comma-separated; every trader debates each symbol on its rebalance days.",
    )
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    budget_usd = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=6,
        label="Budget (USD)",
        help_text="LLM budget; empty = the server's default.",
    )
    confirm_over_budget = forms.BooleanField(
        required=False, label="Run even though the estimate is over budget (or unknown)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        traders = self.fields["traders"]
        assert isinstance(traders, forms.ModelMultipleChoiceField)  # noqa: S101 - narrowing for mypy
        traders.queryset = TraderProfile.objects.filter(active=True).select_related("panel").order_by("name")

    def clean_symbols(self) -> list[str]:
        raw = [
            part for part in str(self.cleaned_data.get("symbols") or "").replace(" ", ",").split(",") if part
        ]
        if not raw:
            raise forms.ValidationError("Name at least one symbol.")
        for symbol in raw:
            _symbol(symbol)
        return raw
