"""The LLM call ledger: one :class:`LlmCall` row per gateway attempt, and the cost totals built on it.

The gateway (agents app) returns every attempt on the ``AgentResult``; this module, on the debates
side of the dependency line, turns them into rows linked to the session and the message they
produced. Callers hold the transaction (the debate service writes the ledger together with the
messages, so a debate is recorded whole or not at all).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from agents.gateway import AgentResult, CallAttempt
from arena_project.bulk import bulk_insert
from debates.models import DebateMessage, DebateSession, LlmCall, LlmCallPurpose

logger = logging.getLogger(__name__)
CENT_MICROS = Decimal("0.000001")  # the precision of session and message totals


@dataclass(frozen=True)
class CostSummary:
    """Known spend and how many calls have an unknown cost (excluded from ``known_usd``)."""

    known_usd: Decimal
    unknown_calls: int

    @property
    def complete(self) -> bool:
        return self.unknown_calls == 0


def llm_call_row(
    attempt: CallAttempt,
    *,
    session: DebateSession | None = None,
    message: DebateMessage | None = None,
) -> LlmCall:
    """An unsaved ledger row for one attempt (tokens ``NULL`` when the provider reported none)."""
    usage = attempt.usage
    purpose = attempt.purpose
    if purpose not in LlmCallPurpose.values:
        # A caller's new purpose must not make the whole debate unrecordable (check constraint).
        purpose = LlmCallPurpose.JUDGE if attempt.role == "judge" else LlmCallPurpose.ANALYSIS
        logger.warning("unknown LLM call purpose %r recorded as %s", attempt.purpose, purpose)
    return LlmCall(
        profile_id=attempt.profile.id,
        session=session,
        message=message,
        role=attempt.role,
        purpose=purpose,
        provider=attempt.provider,
        model=attempt.model[:200],
        attempt=attempt.attempt,
        status=attempt.status,
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        cached_tokens=usage.cached_tokens if usage else None,
        cache_write_tokens=usage.cache_write_tokens if usage else None,
        cost_usd=attempt.cost_usd,
        latency_ms=max(attempt.latency_ms, 0),
        provider_request_id=(attempt.request_id or "")[:200],
        prompt_version=attempt.prompt_version[:64],
        error=attempt.error,
    )


def llm_calls_record(
    *,
    results: Iterable[tuple[AgentResult, DebateMessage | None]],
    session: DebateSession | None = None,
) -> list[LlmCall]:
    """Insert one row per attempt of each result, linked to its message and to ``session`` - by
    default the message's own (caller holds the transaction)."""
    rows = [
        llm_call_row(
            attempt, session=session or (message.session if message is not None else None), message=message
        )
        for result, message in results
        for attempt in result.attempts
    ]
    return bulk_insert(LlmCall, rows)


def cost_summary(results: Iterable[AgentResult]) -> CostSummary:
    """The session total: the sum of every known attempt cost, and the count of unknown ones."""
    known, unknown = Decimal(0), 0
    for result in results:
        for attempt in result.attempts:
            if attempt.cost_usd is None:
                unknown += 1
            else:
                known += attempt.cost_usd
    return CostSummary(known.quantize(CENT_MICROS, rounding=ROUND_HALF_UP), unknown)


def money(value: Decimal | None) -> Decimal | None:
    """A message-level cost at the precision messages store."""
    return None if value is None else value.quantize(CENT_MICROS, rounding=ROUND_HALF_UP)
