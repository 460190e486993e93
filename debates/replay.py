"""Replaying a recorded debate on exactly the context it saw, with another panel or policy.

A debate stores every tool result it read (``ToolCall.result``) and every agent's prompt version.
:func:`recorded_router` answers the same tool calls from those rows — its sources refuse to fetch —
so the replay's agents read byte-for-byte the context the original ones did. The coordinator then
runs as usual with an observer that persists nothing. ``manage.py replay_debate`` and the
escalation-frontier simulator (benchmarks/escalation_frontier.py) both use this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from agents.models import PANEL_POLICY_FIELDS, Panel
from agents.schemas import Account, BarData, MarketContext, Position, Quote
from agents.selectors import PanelPlan, PanelPolicy, panel_get, panel_plan_get
from arena_project.errors import InvalidInputError, NotFoundError
from debates.coordinator import ArenaCoordinator, DebateFailedError, DebateOutcome
from debates.models import DebateSession, ToolCall
from debates.tools import ToolError, ToolRouter

#: Panel fields a replay may override besides the policy (``--set name=value``).
PLAN_FIELDS = ("call_timeout_s", "deadline_s", "quorum")
_BOOLEANS = {"true": "True", "yes": "True", "on": "True", "false": "False", "no": "False", "off": "False"}


class NoLiveDataSource:
    """A market-data and account source that refuses every read: a replay must never fetch."""

    name = "replay"

    def _refuse(self, what: str) -> NoReturn:
        raise ToolError(f"A replay never fetches {what}; the recording does not have this call.")

    def bars(self, symbol: str, *, as_of: dt.date, lookback: int) -> list[BarData]:
        self._refuse("bars")

    def quote(self, symbol: str, *, as_of: dt.date) -> Quote:
        self._refuse("quotes")

    def account(self, *, as_of: dt.date) -> Account:
        self._refuse("the account")

    def positions(self, *, as_of: dt.date) -> list[Position]:
        self._refuse("positions")


def recorded_lookback(calls: Iterable[ToolCall]) -> int:
    """The bar lookback the recording used (the setting may have changed since)."""
    for call in calls:
        if call.tool == "get_bars" and isinstance(call.arguments.get("lookback"), int):
            return int(call.arguments["lookback"])
    return int(settings.ARENA_DEBATE_LOOKBACK_BARS)


def recorded_router(calls: Sequence[ToolCall]) -> ToolRouter:
    """A router that answers only from ``calls`` (raises ToolError for anything not recorded)."""
    if not calls:
        raise ToolError("Nothing recorded: the debate has no tool calls to replay.")
    source = NoLiveDataSource()
    return ToolRouter(source, source, recorded=calls)


def recorded_context(session: DebateSession, calls: Sequence[ToolCall]) -> MarketContext:
    """The exact context ``session`` saw, rebuilt from its recorded tool calls."""
    router = recorded_router(calls)
    return router.gather_context(session.symbol, session.as_of, lookback=recorded_lookback(calls))


@dataclass(frozen=True)
class ReplaySide:
    """One side of the comparison: what a panel decided on the recorded context, and what it cost."""

    label: str
    panel: str
    status: str
    action: str | None
    size: float | None
    confidence: float | None
    agreement_rate: float | None
    escalated: bool
    triggers_fired: list[str]
    #: Rounds run: 1, 2 after an escalation, 3 after a staged escalation's last stage.
    rounds: int
    cost_usd: Decimal
    calls: int
    stances: dict[str, str]
    prompt_versions: dict[str, str]
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "cost_usd": str(self.cost_usd)}


@dataclass(frozen=True)
class ReplayComparison:
    session_id: int
    original: ReplaySide
    replay: ReplaySide
    outcome: DebateOutcome = field(repr=False)

    @property
    def same_decision(self) -> bool:
        return (self.original.action, self.original.size) == (self.replay.action, self.replay.size)

    @property
    def prompt_versions_differ(self) -> list[str]:
        """Roles whose prompt version changed since the recording (the replay is then not like-for-like)."""
        old, new = self.original.prompt_versions, self.replay.prompt_versions
        return sorted(
            role for role in old.keys() & new.keys() if old[role] and new[role] and old[role] != new[role]
        )


def panel_overrides_parse(pairs: Iterable[str]) -> dict[str, Any]:
    """``name=value`` strings into typed panel field values; InvalidInputError names a bad one."""
    allowed = (*PANEL_POLICY_FIELDS, *PLAN_FIELDS)
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or name not in allowed:
            raise InvalidInputError.for_field(
                "set", f"{pair!r}: expected NAME=VALUE with NAME one of {', '.join(allowed)}."
            )
        field_obj = Panel._meta.get_field(name)
        assert isinstance(field_obj, models.Field)  # noqa: S101 - policy fields are concrete fields
        raw = raw.strip()
        if isinstance(field_obj, models.BooleanField):
            raw = _BOOLEANS.get(raw.lower(), raw)
        try:
            values[name] = field_obj.to_python(raw)
        except ValidationError as exc:
            raise InvalidInputError.for_field("set", f"{name}: {'; '.join(exc.messages)}") from exc
    return values


def replay_plan(panel: Panel, overrides: dict[str, Any] | None = None) -> PanelPlan:
    """The panel's plan with ``overrides`` applied, validated like a saved panel would be."""
    plan = panel_plan_get(panel_id=panel.pk)
    if not overrides:
        return plan
    candidate = Panel(**{name: getattr(panel, name) for name in (*PANEL_POLICY_FIELDS, *PLAN_FIELDS)})
    for name, value in overrides.items():
        setattr(candidate, name, value)
    try:
        candidate.clean_fields(exclude=["name"])
        candidate.clean()
    except ValidationError as exc:
        raise InvalidInputError("Invalid override.", extra={"fields": exc.message_dict}) from exc
    return plan.replace(
        policy=PanelPolicy.from_panel(candidate),
        **{name: getattr(candidate, name) for name in PLAN_FIELDS},
    )


def debate_replay(
    *, session_id: int, panel: str | None = None, overrides: dict[str, Any] | None = None
) -> ReplayComparison:
    """Re-run a finished debate on its recorded context with ``panel`` (default: its own) and
    ``overrides``; nothing is persisted and no market data is fetched.

    Raises NotFoundError for an unknown session or panel, InvalidInputError for a debate with no
    recorded context or a bad override.
    """
    session = (
        DebateSession.objects.select_related("panel", "consensus")
        .prefetch_related("messages", "tool_calls", "rounds")
        .filter(pk=session_id)
        .first()
    )
    if session is None:
        raise NotFoundError(f"No debate session {session_id}.")
    calls = sorted(session.tool_calls.all(), key=lambda c: c.sequence)
    try:
        context = recorded_context(session, calls)
    except ToolError as exc:
        raise InvalidInputError.for_field(
            "session", f"Debate {session_id} cannot be replayed: {exc}"
        ) from exc
    target = panel_get(name=panel) if panel else session.panel
    plan = replay_plan(target, overrides)
    try:
        outcome = ArenaCoordinator(plan, lookback=len(context.bars)).run_on(context)
    except DebateFailedError as exc:
        outcome = DebateOutcome(context=context, failure=str(exc))
    return ReplayComparison(
        session_id=session.pk,
        original=_recorded_side(session),
        replay=_replayed_side(plan, outcome, overrides),
        outcome=outcome,
    )


def _recorded_side(session: DebateSession) -> ReplaySide:
    consensus = getattr(session, "consensus", None)
    messages = list(session.messages.all())
    final: dict[str, str] = {}
    for message in sorted(messages, key=lambda m: m.round):
        if message.role != "judge" and message.stance:
            final[message.role] = message.stance
    return ReplaySide(
        label=f"recorded #{session.pk}",
        panel=session.panel.name,
        status=session.status,
        action=consensus.action if consensus else None,
        size=consensus.size if consensus else None,
        confidence=consensus.confidence if consensus else None,
        agreement_rate=consensus.agreement_rate if consensus else None,
        escalated=consensus.escalated if consensus else len(session.rounds.all()) > 1,
        triggers_fired=list(consensus.triggers_fired) if consensus else [],
        rounds=len(session.rounds.all()),
        cost_usd=session.total_cost_usd,
        calls=len(messages),
        stances=final,
        prompt_versions={m.role: m.prompt_version for m in messages if m.round == 1},
        error=session.error,
    )


def _replayed_side(plan: PanelPlan, outcome: DebateOutcome, overrides: dict[str, Any] | None) -> ReplaySide:
    decision = outcome.decision
    label = "replay" + (f" ({', '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else "")
    return ReplaySide(
        label=label,
        panel=plan.name,
        status="completed" if decision else "failed",
        action=decision.action.value if decision else None,
        size=decision.size if decision else None,
        confidence=decision.confidence if decision else None,
        agreement_rate=outcome.agreement_rate if decision else None,
        escalated=outcome.escalated,
        triggers_fired=outcome.triggers_fired,
        rounds=len(outcome.rounds),
        cost_usd=outcome.cost_usd,
        calls=len(outcome.results),
        stances={view.role: view.output.stance.value for view in outcome.valid_analysts},
        prompt_versions={r.role: r.prompt_version for n, r in outcome.results if n == 1},
        error=outcome.failure,
    )
