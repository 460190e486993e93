"""Writes and workflows of the debates app: create a session, claim it, run it end to end.

The command, the django-q2 task, the API and the tests all go through these functions.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from agents.gateway import AgentResult
from agents.models import Panel
from agents.schemas import AnalystOutput, JudgeOutput
from agents.selectors import panel_get, panel_plan_get
from arena_project.errors import ConflictError, InvalidInputError, NotFoundError
from debates.coordinator import ArenaCoordinator, DebateFailedError, DebateOutcome
from debates.ledger import cost_summary, llm_calls_record, money
from debates.market.sources import AccountSource, MarketDataSource, account_source_for, get_source
from debates.models import (
    Bar,
    DebateConsensus,
    DebateMessage,
    DebateSession,
    DebateStatus,
    Instrument,
    Timeframe,
    ToolCall,
    ValidationStatus,
)
from debates.signals import consensus_created
from debates.tools import ToolError, ToolRouter

logger = logging.getLogger(__name__)


def _debate_date(symbol: str, as_of: dt.date | None) -> dt.date:
    """The date of the last daily bar on or before ``as_of`` (or at all); one query when it exists."""
    bars = Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY)
    if as_of is not None:
        bars = bars.filter(date__lte=as_of)
    last = bars.order_by("-date").values_list("date", flat=True).first()
    if last is not None:
        return last
    if not Instrument.objects.filter(symbol=symbol).exists():
        raise InvalidInputError.for_field("symbol", f"Unknown symbol {symbol!r}.")
    if as_of is None:
        raise InvalidInputError.for_field("symbol", f"Symbol {symbol} has no daily bars.")
    raise InvalidInputError.for_field("as_of", f"No bars for {symbol} on or before {as_of.isoformat()}.")


def debate_session_create(
    *,
    symbol: str,
    as_of: dt.date | None = None,
    panel: Panel | str | None = None,
    requested_by: User | AnonymousUser | None = None,
    enqueue: bool = True,
) -> DebateSession:
    """Validate and store a queued session; with ``enqueue`` a worker picks it up after commit.

    Raises InvalidInputError naming the field for an unknown symbol or panel, or a date with no bars.
    """
    symbol = symbol.strip().upper()
    last = _debate_date(symbol, as_of)
    as_of = as_of or last
    if not isinstance(panel, Panel):
        try:
            panel = panel_get(name=panel)
        except NotFoundError as exc:
            raise InvalidInputError.for_field("panel", exc.message) from exc
    user = requested_by if requested_by is not None and requested_by.is_authenticated else None
    with transaction.atomic():
        session = DebateSession(symbol=symbol, as_of=as_of, panel=panel, requested_by=user)
        # Field validation here; the check constraints are the database's (validating them would cost
        # a query each on every debate).
        session.full_clean(validate_constraints=False)
        session.save()
        if enqueue:
            session_id = session.pk
            transaction.on_commit(
                lambda: async_task("debates.tasks.debate_run", session_id, task_name=f"debate-{session_id}")
            )
    return session


def debate_session_claim(*, session_id: int, lease: dt.timedelta | None = None) -> bool:
    """Take a queued session, or a running one whose lease ran out (its worker died), for this worker.

    One conditional UPDATE, so two deliveries of the same task can never both win.
    """
    lease = lease or dt.timedelta(seconds=settings.ARENA_DEBATE_LEASE_SECONDS)
    now = timezone.now()
    claimable = Q(status=DebateStatus.QUEUED) | Q(status=DebateStatus.RUNNING, lease_expires_at__lt=now)
    updated = DebateSession.objects.filter(claimable, pk=session_id).update(
        status=DebateStatus.RUNNING,
        started_at=now,
        finished_at=None,
        lease_expires_at=now + lease,
        attempts=F("attempts") + 1,
        error="",
    )
    return updated == 1


def debate_session_run(
    *,
    session_id: int,
    market: MarketDataSource | None = None,
    accounts: AccountSource | None = None,
) -> DebateSession:
    """Run a claimed session end to end and persist its final state atomically.

    The caller must have claimed the session (``debate_session_claim``). Anything left by an
    earlier delivery that died mid-way is discarded first, so a retry restarts cleanly.
    Returns the session, completed or failed (a debate failure is a result, not an exception).
    """
    session = DebateSession.objects.get(pk=session_id)
    if session.status != DebateStatus.RUNNING:
        raise ConflictError(f"Debate {session_id} is {session.status}, not running; claim it first.")
    if session.attempts > 1:
        _discard_partial(session)
    router = ToolRouter(market or get_source(), accounts or account_source_for(session))
    coordinator = ArenaCoordinator(
        panel_plan_get(panel_id=session.panel_id), lookback=settings.ARENA_DEBATE_LOOKBACK_BARS
    )
    try:
        outcome = coordinator.run(router, session.symbol, session.as_of)
    except (DebateFailedError, ToolError) as exc:
        outcome = DebateOutcome(failure=str(exc))
    except Exception as exc:  # a bug must still end the session, never leave it running
        logger.exception("debate %s crashed", session_id)
        outcome = DebateOutcome(failure=f"Internal error: {type(exc).__name__}: {exc}")
    _persist(session, router.calls, outcome)
    return session


def debate_run_now(
    *,
    symbol: str,
    as_of: dt.date | None = None,
    panel: Panel | str | None = None,
    requested_by: User | None = None,
) -> DebateSession:
    """Create, claim and run a debate in this process (the command and the demo use it)."""
    session = debate_session_create(
        symbol=symbol, as_of=as_of, panel=panel, requested_by=requested_by, enqueue=False
    )
    debate_session_claim(session_id=session.pk)
    return debate_session_run(session_id=session.pk)


def _discard_partial(session: DebateSession) -> None:
    with transaction.atomic():
        session.llm_calls.all().delete()
        session.messages.all().delete()
        session.tool_calls.all().delete()


def _message(session: DebateSession, result: AgentResult, round_no: int) -> DebateMessage:
    output = result.output
    analyst = output if isinstance(output, AnalystOutput) else None
    if output is not None:
        status = ValidationStatus.REPAIRED if result.repaired_by != "none" else ValidationStatus.VALID
    else:
        status = ValidationStatus.INVALID if result.status == "invalid_output" else ValidationStatus.FAILED
    return DebateMessage(
        session=session,
        round=round_no,
        role=result.role,
        profile_id=result.profile.id,
        stance=analyst.stance.value if analyst else "",
        confidence=output.confidence if isinstance(output, AnalystOutput | JudgeOutput) else None,
        signals=[s.model_dump(mode="json") for s in analyst.signals] if analyst else [],
        reasoning=analyst.reasoning
        if analyst
        else (output.rationale if isinstance(output, JudgeOutput) else ""),
        key_risks=list(analyst.key_risks) if analyst else [],
        output=output.model_dump(mode="json") if output is not None else None,
        raw_output=result.raw_text,
        validation_status=status,
        repaired_by=result.repaired_by,
        validation_error=result.error,
        prompt_version=result.prompt_version,
        latency_ms=result.latency_ms,
        cost_usd=money(result.cost_usd),
    )


@transaction.atomic
def _persist(session: DebateSession, calls: list[ToolCall], outcome: DebateOutcome) -> None:
    """Write the whole result, or the failure and its reason, in one transaction.

    The session row is locked and re-checked first: if another delivery already finished it,
    this one writes nothing (and the consensus one-to-one would refuse a second row anyway).
    """
    locked = DebateSession.objects.select_for_update().get(pk=session.pk)
    if locked.status != DebateStatus.RUNNING:
        session.refresh_from_db()
        return
    for call in calls:
        # One row at a time on purpose: a multi-row insert of large JSON goes through PostgreSQL
        # arrays, which psycopg escapes quote by quote in Python (10x slower for a bar history).
        call.session = session
        call.save(force_insert=True)
    results = list(outcome.analyst_results)
    if outcome.judge_result is not None:
        results.append(outcome.judge_result)
    messages = DebateMessage.objects.bulk_create([_message(session, r, r.round) for r in results])
    llm_calls_record(session=session, results=zip(results, messages, strict=True))
    decision = outcome.decision
    if decision is not None and not outcome.failure:
        assert outcome.judge_result is not None  # noqa: S101 - a decision implies a judge result
        consensus = DebateConsensus.objects.create(
            session=session,
            judge_profile_id=outcome.judge_result.profile.id,
            action=decision.action.value,
            size=decision.size,
            confidence=decision.confidence,
            rationale=decision.rationale,
            risk_checks=[c.model_dump(mode="json") for c in decision.risk_checks],
            order_intent=decision.order_intent.model_dump(mode="json") if decision.order_intent else None,
            agreement_rate=outcome.agreement_rate,
            valid_analysts=len(outcome.valid_analysts),
        )
        session.status = DebateStatus.COMPLETED
        session_id, consensus_id = session.pk, consensus.pk
        transaction.on_commit(
            lambda: consensus_created.send(
                sender=DebateSession, session_id=session_id, consensus_id=consensus_id
            )
        )
    else:
        session.status = DebateStatus.FAILED
        session.error = outcome.failure or "The debate ended without a decision."
    costs = cost_summary(results)
    session.total_cost_usd, session.unknown_cost_calls = costs.known_usd, costs.unknown_calls
    session.finished_at = timezone.now()
    session.lease_expires_at = None
    session.save(
        update_fields=[
            "status",
            "error",
            "total_cost_usd",
            "unknown_cost_calls",
            "finished_at",
            "lease_expires_at",
            "updated_at",
        ]
    )
