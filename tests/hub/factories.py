"""Debates written straight to the database, many at once, for the hub's page and query-count tests.

Running real debates would take longer and give less control (status mix, costs, times); these rows
have the shape the debate service writes: five analysts and a judge per round, four tool calls, and a
consensus for completed sessions.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from agents.models import ANALYST_ROLES, AgentProfile, Panel, PanelSeat, PanelStage, Role
from debates.models import (
    DebateConsensus,
    DebateMessage,
    DebateSession,
    DebateStatus,
    LlmCall,
    LlmCallPurpose,
    LlmCallStatus,
    ToolCall,
    ValidationStatus,
)

STANCES = {"bull": "bullish", "bear": "bearish"}


def seat_profiles(panel: Panel, stage: str = PanelStage.ANALYST) -> dict[str, AgentProfile]:
    seats = PanelSeat.objects.filter(panel=panel, stage=stage).select_related("profile")
    return {seat.role: seat.profile for seat in seats}


def make_debates(
    panel: Panel,
    n: int,
    *,
    status: str = DebateStatus.COMPLETED,
    created_at: dt.datetime | None = None,
    cost: Decimal = Decimal("0.0123"),
    agreement: float = 0.8,
    escalated: bool = False,
    rounds: int = 1,
    symbol: str = "ACME",
    reasoning: str = "Momentum is positive.",
    ledger: bool = True,
) -> list[DebateSession]:
    """``n`` sessions of one kind, with their answers, tool calls and (when completed) consensus.

    With ``ledger`` each answer also gets one LLM call ledger row (attempt 1, ok, 1000 tokens in and
    200 out, the answer's cost and latency), as the debate service writes them.
    """
    now = timezone.now()
    finished = status in (DebateStatus.COMPLETED, DebateStatus.FAILED)
    sessions = DebateSession.objects.bulk_create(
        [
            DebateSession(
                symbol=symbol,
                as_of=dt.date(2025, 6, 2),
                panel=panel,
                status=status,
                started_at=None if status == DebateStatus.QUEUED else now,
                finished_at=now + dt.timedelta(milliseconds=1500) if finished else None,
                attempts=0 if status == DebateStatus.QUEUED else 1,
                error="Quorum not met: 1 valid analyst(s) of 5 (quorum 3)."
                if status == DebateStatus.FAILED
                else "",
                total_cost_usd=cost if finished else 0,
            )
            for _ in range(n)
        ]
    )
    if created_at is not None:
        DebateSession.objects.filter(pk__in=[s.pk for s in sessions]).update(created_at=created_at)
    analysts = seat_profiles(panel)
    judge = seat_profiles(panel, PanelStage.JUDGE)[Role.JUDGE]
    escalation = seat_profiles(panel, PanelStage.ESCALATION)
    messages, calls, consensuses = [], [], []
    judges = rounds if status == DebateStatus.COMPLETED else rounds - 1
    # the answers' (and ledger rows') costs add up to the session's total, as the service records them
    each = cost / (len(ANALYST_ROLES) * rounds + judges)
    for session in sessions:
        if status == DebateStatus.QUEUED:
            continue
        for seq, tool in enumerate(["get_bars", "get_quote", "get_account", "get_positions"], start=1):
            calls.append(
                ToolCall(
                    session=session,
                    sequence=seq,
                    tool=tool,
                    arguments={"symbol": symbol, "as_of": "2025-06-02"},
                    result={"ok": True},
                    result_summary=f"{tool} done",
                    latency_ms=3 * seq,
                )
            )
        for round_no in range(1, rounds + 1):
            profiles = analysts if round_no == 1 else escalation
            for role in ANALYST_ROLES:
                messages.append(
                    DebateMessage(
                        session=session,
                        round=round_no,
                        role=role,
                        profile=profiles[role],
                        stance=STANCES.get(role, "neutral"),
                        confidence=0.7,
                        signals=[{"name": "rsi_14", "value": 55.0, "reading": "neutral", "note": "mid"}],
                        reasoning=reasoning,
                        key_risks=["gap risk"],
                        validation_status=ValidationStatus.VALID,
                        latency_ms=100 + 10 * round_no,
                        cost_usd=each,
                    )
                )
            if status == DebateStatus.COMPLETED or round_no < rounds:
                messages.append(
                    DebateMessage(
                        session=session,
                        round=round_no,
                        role=Role.JUDGE,
                        profile=judge,
                        confidence=0.6,
                        reasoning="Buy a little.",
                        validation_status=ValidationStatus.VALID,
                        latency_ms=200,
                        cost_usd=each,
                    )
                )
        if status == DebateStatus.COMPLETED:
            consensuses.append(
                DebateConsensus(
                    session=session,
                    judge_profile=judge,
                    action="buy",
                    size=0.25,
                    confidence=0.6,
                    rationale="Buy a little.",
                    risk_checks=[{"name": "quorum", "passed": True, "detail": "5 valid"}],
                    order_intent={
                        "side": "buy",
                        "order_type": "market",
                        "limit_price": None,
                        "time_in_force": "day",
                        "size_fraction": 0.25,
                    },
                    agreement_rate=agreement,
                    valid_analysts=5,
                    escalated=escalated,
                    triggers_fired=[{"name": "agreement_below", "detail": "0.55 < 0.6"}] if escalated else [],
                )
            )
    ToolCall.objects.bulk_create(calls)
    DebateMessage.objects.bulk_create(messages)
    DebateConsensus.objects.bulk_create(consensuses)
    if ledger:
        LlmCall.objects.bulk_create(ledger_rows(messages))
        if created_at is not None:  # the calls were made when the debate ran
            LlmCall.objects.filter(session__in=sessions).update(created_at=created_at)
    return sessions


def ledger_rows(messages: list[DebateMessage], *, tokens: tuple[int, int] = (1000, 200)) -> list[LlmCall]:
    """One successful ledger attempt per answer, with the answer's cost and latency."""
    rows = []
    for m in messages:
        purpose = (
            LlmCallPurpose.JUDGE
            if m.role == Role.JUDGE
            else (LlmCallPurpose.ANALYSIS if m.round == 1 else LlmCallPurpose.ESCALATION)
        )
        rows.append(
            LlmCall(
                profile=m.profile,
                session_id=m.session_id,
                message=m,
                role=m.role,
                purpose=purpose,
                provider=m.profile.provider,
                model=m.profile.model,
                attempt=1,
                status=LlmCallStatus.OK,
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                cost_usd=m.cost_usd,
                latency_ms=m.latency_ms,
            )
        )
    return rows
