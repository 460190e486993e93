"""Writes and workflows of the debates app: create a session, claim it, run it end to end.

The command, the django-q2 task, the API and the tests all go through these functions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django_q.tasks import async_task
from pydantic import ValidationError as PydanticValidationError

from agents.gateway import AgentResult, CallAttempt
from agents.models import Panel
from agents.providers.base import ProfileSpec, Usage
from agents.schemas import AnalystOutput
from agents.selectors import PanelPlan, panel_get, panel_plan_build, panel_plan_version
from arena_project.bulk import bulk_insert, bulk_update_rows
from arena_project.errors import ArenaError, ConflictError, InvalidInputError, NotFoundError
from debates.coordinator import (
    ArenaCoordinator,
    DebateCancelledError,
    DebateFailedError,
    DebateOutcome,
    DebateSupersededError,
    RoundOutcome,
)
from debates.ledger import cost_summary
from debates.market.sources import (
    AccountSource,
    MarketDataSource,
    NoDataError,
    UnknownSymbolError,
    account_source_for,
    account_sources_for,
    batch_source,
    get_source,
)
from debates.models import (
    Bar,
    DebateConsensus,
    DebateMessage,
    DebateRound,
    DebateSession,
    DebateStatus,
    Instrument,
    LlmCall,
    Timeframe,
    ToolCall,
    ValidationStatus,
)
from debates.recording import SessionRecorder, messages_save_many, tool_calls_save_many
from debates.replay import recorded_lookback, recorded_router
from debates.selectors import daily_bars
from debates.signals import consensus_batch_created, consensus_created
from debates.tools import ToolError, ToolRouter

logger = logging.getLogger(__name__)

#: Seconds a worker's lease must outlive its debate's deadline (final write, slack for a slow database).
LEASE_MARGIN_S = 30.0
CANCELLED_BY_REQUEST = "Cancelled by request."


class DebateFinishedError(ConflictError):
    code = "debate_finished"


class DebateCancelForbiddenError(ArenaError):
    code = "permission_denied"
    http_status = 403


def _debate_date(symbol: str, as_of: dt.date | None) -> dt.date:
    """The date of the last daily bar on or before ``as_of`` (or at all); one query when it exists."""
    bars = daily_bars(symbol)
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
    session = DebateSession(symbol=symbol, as_of=as_of, panel=panel, requested_by=user)
    # Field validation here. The panel and the user are instances just loaded, and the check
    # constraints are the database's: validating either in Python would cost a query each.
    session.full_clean(exclude=["panel", "requested_by"], validate_constraints=False)
    # One INSERT: atomic on its own, so no transaction of ours around it (BEGIN and COMMIT would be
    # two more round trips). Inside a caller's transaction, on_commit still waits for its commit.
    session.save()
    if enqueue:
        session_id = session.pk
        transaction.on_commit(
            lambda: async_task("debates.tasks.debate_run", session_id, task_name=f"debate-{session_id}")
        )
    return session


@dataclass(frozen=True)
class DebateSessionRequest:
    """One debate of a batch (:func:`debate_sessions_create`): what ``debate_session_create`` takes."""

    symbol: str
    as_of: dt.date
    panel: Panel


def debate_sessions_create(
    *,
    requests: Sequence[DebateSessionRequest],
    claimed_by_lease: dt.timedelta | None = None,
    market: MarketDataSource | None = None,
) -> list[DebateSession]:
    """Validate and store many sessions in one INSERT, already claimed by the caller; never enqueued.

    For a caller that owns a batch of debates and runs them itself (a backtest day creates all of
    its debates together, then runs them with :func:`debate_sessions_run_batch`): what
    ``debate_session_create(..., enqueue=False)`` + ``debate_session_claim`` do per debate, in one
    statement. Each session is created in the state the claim would leave it in - running, attempt
    1, a lease of ``claimed_by_lease`` (the debate lease setting by default) that the run extends to
    cover its deadline - and no task is enqueued, so no
    other worker can take it before that lease expires (then ``debate_session_claim`` may, as for
    any dead worker's session).

    Validation is ``debate_session_create``'s: a known symbol with a daily bar on or before the
    date, a saved panel. With ``market`` (the source the debates will read, e.g. a backtest's bars
    in memory) the bars are checked there, at no query; without it, in one query for the batch.
    Raises InvalidInputError naming the field, before anything is written.

    Reads, then one bulk INSERT (atomic on its own, as in ``debate_session_create``): no
    transaction or savepoint of ours around it, which would cost two more statements per call
    inside the caller's transaction (the engine creates the day's decisions in one).
    """
    requests = [dataclasses.replace(r, symbol=r.symbol.strip().upper()) for r in requests]
    if not requests:
        return []
    for request in requests:
        if not isinstance(request.panel, Panel) or request.panel.pk is None:
            raise InvalidInputError.for_field("panel", f"Not a saved panel: {request.panel!r}.")
    if market is not None:
        _bars_check_in(market, requests)
    else:
        _bars_check(requests)
    now = timezone.now()
    lease = now + (claimed_by_lease or dt.timedelta(seconds=settings.ARENA_DEBATE_LEASE_SECONDS))
    sessions = []
    for request in requests:
        session = DebateSession(
            symbol=request.symbol,
            as_of=request.as_of,
            panel=request.panel,
            status=DebateStatus.RUNNING,
            started_at=now,
            lease_expires_at=lease,
            attempts=1,
        )
        # Fields only, as in debate_session_create: the panel is a loaded row, the checks the database's.
        session.full_clean(
            exclude=["panel", "requested_by"], validate_unique=False, validate_constraints=False
        )
        sessions.append(session)
    return DebateSession.objects.bulk_create(sessions)


def _bars_check_in(market: MarketDataSource, requests: Sequence[DebateSessionRequest]) -> None:
    """Each request's symbol has a bar on or before its date in ``market`` (``quote`` raises if not)."""
    for request in requests:
        try:
            market.quote(request.symbol, as_of=request.as_of)
        except UnknownSymbolError as exc:
            raise InvalidInputError.for_field("symbol", f"Unknown symbol {request.symbol!r}.") from exc
        except NoDataError as exc:
            raise InvalidInputError.for_field("as_of", exc.message) from exc


def _bars_check(requests: Sequence[DebateSessionRequest]) -> None:
    """``_debate_date`` for a batch: each symbol's first daily bar in one query (more to word an error).

    Each instrument's first bar is a subquery that reads one row of the (instrument, timeframe,
    date) index; a MIN over the bars joined to their instruments read and sorted every bar of the
    symbols (6 symbols: 6.2 ms a batch)."""
    symbols = {r.symbol for r in requests}
    first_bar = Bar.objects.filter(instrument=OuterRef("pk"), timeframe=Timeframe.DAY).order_by("date")
    first = {
        symbol: day
        for symbol, day in Instrument.objects.filter(symbol__in=symbols)
        .annotate(first=Subquery(first_bar.values("date")[:1]))
        .values_list("symbol", "first")
        if day is not None
    }
    for request in requests:
        if request.symbol in first and first[request.symbol] <= request.as_of:
            continue
        _debate_date(request.symbol, request.as_of)  # raises the error naming the field


def debate_session_claim(*, session_id: int, lease: dt.timedelta | None = None) -> bool:
    """Take a queued session, or a running one whose lease ran out (its worker died), for this worker.

    One conditional UPDATE, so two deliveries of the same task can never both win. The attempt
    counter it increments is the fencing token: the earlier worker, if it is still alive, finds the
    number changed at its next write and stops (debates/recording.py).
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
        updated_at=now,
    )
    return updated == 1


def debate_session_run(
    *,
    session_id: int,
    market: MarketDataSource | None = None,
    accounts: AccountSource | None = None,
) -> DebateSession:
    """Run a claimed session end to end; its final state is written in one transaction.

    The caller must have claimed the session (``debate_session_claim``). A retry after a worker
    died resumes: it keeps the earlier attempt's recorded context and valid first-round answers
    (when there are any) and discards everything else it wrote. Returns the session: completed,
    failed (a debate failure is a result, not an exception), cancelled, or — when another worker
    took it over meanwhile — whatever that worker made of it. Raises ConflictError for a session
    that is not running.
    """
    prepared = _prepare(session_id, market, accounts)
    if isinstance(prepared, DebateSession):
        return prepared
    prepared.finish(_outcome(prepared))
    return prepared.session


def _outcome(prepared: _Run) -> DebateOutcome:
    """Run the debate from synchronous code (one event loop for it; its database work comes back to
    this thread); a debate failure, or a crash, becomes a failed outcome (never an exception)."""
    return async_to_sync(_aoutcome)(prepared)


async def _aoutcome(prepared: _Run) -> DebateOutcome:
    """:func:`_outcome` on the caller's event loop (a batch, or a burst of debates, runs them all on one)."""
    try:
        return await prepared.adebate()
    except (DebateFailedError, ToolError) as exc:
        return DebateOutcome(failure=str(exc))
    except Exception as exc:  # a bug must still end the session, never leave it running
        logger.exception("debate %s crashed", prepared.session.pk)
        return _crashed(exc)


def _crashed(exc: Exception) -> DebateOutcome:
    return DebateOutcome(failure=f"Internal error: {type(exc).__name__}: {exc}")


def debate_sessions_run_batch(
    *,
    runs: Sequence[tuple[int, AccountSource | None]],
    market: MarketDataSource | None = None,
) -> list[DebateSession]:
    """Run several claimed sessions one after the other, then write all their final states in one
    transaction: a handful of bulk statements for the batch instead of a transaction per debate.

    ``runs``: (session id, the account source its agents read, or None for the session's own), in
    order. For a caller that owns a batch of fast debates and waits for all of them anyway - a
    backtest's day (competition/services/engine.py); the worker's task runs one session at a time
    (``debate_session_run``), so that a debate's result is never held back by another's.

    The guarantees are ``debate_session_run``'s, per session: the caller must have claimed each one;
    a session is written only while this attempt owns it (the final write locks the batch's rows and
    checks each one's status and attempt); a cancel request ends it cancelled, without a consensus;
    a retry resumes on an earlier attempt's recording; a debate that fails or crashes ends failed
    with its reason while the others complete. A session that is not running (any more) is returned
    as it is, unlike ``debate_session_run``, which raises: the others must not be lost for it. The
    write is all or nothing: a database error leaves every session of the batch running, for a retry.

    Loads the sessions in one query and each distinct panel's plan once; without a ``market``, the
    configured source serves the whole batch and, when it is the embedded one, reads the bar
    histories in one query per symbol (``EmbeddedSource.prefetch``; each debate still sees no bar
    after its own date); the accounts of the debates given none are read together
    (``account_sources_for``). After commit, one
    ``consensus_batch_created`` signal carries the batch's consensus rows in order. Returns the
    sessions in the order of ``runs``. Raises DebateSession.DoesNotExist for an unknown id, before
    anything runs.
    """
    ids = [session_id for session_id, _a in runs]
    sessions = _with_panel().in_bulk(ids)
    missing = [i for i in ids if i not in sessions]
    if missing:
        raise DebateSession.DoesNotExist(f"No debate sessions {missing}.")
    running = [sessions[i] for i in ids if sessions[i].status == DebateStatus.RUNNING]
    plans: dict[int, PanelPlan] = {}
    for session in running:
        if session.panel_id not in plans:
            plans[session.panel_id] = _plan_of(session)
    # Each lease covers one debate's deadline, as on the single path, not the batch's sum: a lease
    # that outlived a dead worker's run would keep its retry from reclaiming the sessions. A batch
    # slower than that is still safe - the final write checks each session's attempt - and meant
    # for fast debates.
    _lease_cover(running, deadline_s=max((plans[s.panel_id].deadline_s for s in running), default=0))
    if market is None and running:
        # The batch's bar histories in one query per symbol instead of one per debate.
        wanted = [(s.symbol, s.as_of) for s in running]
        market = batch_source(wanted, lookback=settings.ARENA_DEBATE_LOOKBACK_BARS)
    # The accounts of the debates the caller gave none: read together, one source per account.
    unset = {i for i, accounts in runs if accounts is None}
    own = account_sources_for([s for s in running if s.pk in unset])
    todo = [
        (sessions[i], plans[sessions[i].panel_id], accounts or own.get(i))
        for i, accounts in runs
        if sessions[i].status == DebateStatus.RUNNING
    ]
    finals = async_to_sync(_batch_arun)(todo, market) if todo else []
    consensuses = _persist_many(finals)
    if consensuses:
        transaction.on_commit(
            lambda: consensus_batch_created.send(
                sender=DebateSession, consensus_ids=[c.pk for c in consensuses], consensuses=consensuses
            )
        )
    return [sessions[i] for i in ids]


async def _batch_arun(
    todo: Sequence[tuple[DebateSession, PanelPlan, AccountSource | None]], market: MarketDataSource | None
) -> list[_Final]:
    """A batch's debates one after the other on one event loop (one async_to_sync for the batch,
    not a loop and a thread per debate); their database work runs on the caller's thread."""
    return [await _batch_attempt(session, plan, market, accounts) for session, plan, accounts in todo]


async def _batch_attempt(
    session: DebateSession, plan: PanelPlan, market: MarketDataSource | None, accounts: AccountSource | None
) -> _Final:
    """One session's attempt of a batch, run to its end (cancelled at once on a cancel request)."""
    if session.cancel_requested_at is not None:
        return _Final(session, session.attempts, DebateOutcome(interrupted=DebateCancelledError.kind))
    try:
        prepared = await sync_to_async(_attempt_start, thread_sensitive=True)(session, plan, market, accounts)
    except Exception as exc:  # setting up one debate must not cost the others theirs
        logger.exception("debate %s crashed", session.pk)
        return _Final(session, session.attempts, _crashed(exc))
    return prepared.final(await _aoutcome(prepared))


def debate_sessions_run(*, session_ids: Sequence[int]) -> list[DebateSession]:
    """Claim and run several sessions concurrently on one event loop: one worker, many debates.

    Every agent call of every debate is an asyncio task on the same loop (no thread per debate or
    per call); database work runs on this thread, one statement at a time. Sessions that cannot be
    claimed (finished, or running on a live worker) are skipped. Returns the sessions it ran.
    """
    claimed = [i for i in session_ids if debate_session_claim(session_id=i)]

    async def run_all() -> list[DebateSession]:
        return list(await asyncio.gather(*(_session_arun(i) for i in claimed)))

    return async_to_sync(run_all)()


async def _session_arun(session_id: int) -> DebateSession:
    """One claimed session on the caller's event loop (see :func:`debate_sessions_run`)."""
    prepared = await sync_to_async(_prepare, thread_sensitive=True)(session_id, None, None)
    if isinstance(prepared, DebateSession):
        return prepared
    outcome = await _aoutcome(prepared)
    await sync_to_async(prepared.finish, thread_sensitive=True)(outcome)
    return prepared.session


def _with_panel() -> QuerySet[DebateSession]:
    """Sessions with their panel and, in the same query, the panel plans' version: a plan this
    process built under that version is reused without a query (``panel_plan_build``)."""
    return DebateSession.objects.select_related("panel").annotate(plan_version=panel_plan_version())


def _plan_of(session: DebateSession) -> PanelPlan:
    """The session's panel plan: reused when this process built it under the version read with
    the session (``_with_panel``), built afresh otherwise."""
    version: int | None = getattr(session, "plan_version", None)
    return panel_plan_build(panel=session.panel, version=version)


def _prepare(
    session_id: int, market: MarketDataSource | None, accounts: AccountSource | None
) -> _Run | DebateSession:
    """Load a running session and set up its attempt; a session with a cancel request is ended
    cancelled here, before anything runs, and returned as it is."""
    session = _with_panel().get(pk=session_id)
    if session.status != DebateStatus.RUNNING:
        raise ConflictError(f"Debate {session_id} is {session.status}, not running; claim it first.")
    if session.cancel_requested_at is not None:
        _persist_many(
            [_Final(session, session.attempts, DebateOutcome(interrupted=DebateCancelledError.kind))]
        )
        return session
    plan = _plan_of(session)
    _lease_cover([session], deadline_s=plan.deadline_s)
    return _attempt_start(session, plan, market, accounts)


def _attempt_start(
    session: DebateSession, plan: PanelPlan, market: MarketDataSource | None, accounts: AccountSource | None
) -> _Run:
    """This attempt's run of a loaded, running session whose lease covers it: a retry resumes."""
    attempt = session.attempts
    prior = _attempt_resume(session, plan) if attempt > 1 else _Resume()
    live = ToolRouter(market or get_source(), accounts or account_source_for(session))
    return _Run(session, plan, attempt, prior, live)


class _Run:
    """One attempt's coordinator, router and recorder; resumes on an earlier attempt's recording.

    When the recording cannot serve the context (a changed tool, a corrupt row), the attempt
    discards it and the carried-over answers and starts from scratch on live data.
    """

    def __init__(
        self, session: DebateSession, plan: PanelPlan, attempt: int, prior: _Resume, live: ToolRouter
    ) -> None:
        self.session, self.plan, self.attempt, self.prior, self.live = session, plan, attempt, prior, live
        resuming = bool(prior.calls)
        self.router = recorded_router(prior.calls) if resuming else live
        lookback = recorded_lookback(prior.calls) if resuming else settings.ARENA_DEBATE_LOOKBACK_BARS
        self.recorder = self._recorder(calls_written=resuming)
        self.coordinator = self._coordinator(lookback)

    def _recorder(self, *, calls_written: bool) -> SessionRecorder:
        return SessionRecorder(
            self.session,
            attempt=self.attempt,
            router=self.router,
            written=set(self.prior.results),
            tool_calls_written=calls_written,
        )

    def _coordinator(self, lookback: int) -> ArenaCoordinator:
        return ArenaCoordinator(
            self.plan,
            lookback=lookback,
            observer=self.recorder,
            session_id=self.session.pk,
            prior=self.prior.results,
        )

    async def adebate(self) -> DebateOutcome:
        """Gather the context and debate on the caller's event loop. A resumed attempt whose
        recording cannot serve the context discards it and starts again on live data."""
        symbol, as_of = self.session.symbol, self.session.as_of
        try:
            return await self.coordinator.arun_through(self.router, symbol, as_of)
        except ToolError:
            if self.router is self.live:
                raise
            await sync_to_async(self._restart, thread_sensitive=True)()
        return await self.coordinator.arun_through(self.router, symbol, as_of)

    def final(self, outcome: DebateOutcome) -> _Final:
        """The attempt's end, with what its recorder already wrote."""
        return _Final(
            self.session,
            self.attempt,
            outcome,
            calls=self.router.calls,
            written=frozenset(self.recorder.written),
            tool_calls_written=self.recorder.tool_calls_written,
        )

    def finish(self, outcome: DebateOutcome) -> None:
        """Write the attempt's end in its own transaction; after commit, ``consensus_created``."""
        for consensus in _persist_many([self.final(outcome)]):
            _consensus_announce(consensus)

    def _restart(self) -> None:
        logger.warning("debate %s: earlier recording unusable, restarting from scratch", self.session.pk)
        _discard_partial(self.session)
        self.prior = _Resume()
        self.router = self.live
        self.recorder = self._recorder(calls_written=False)
        self.coordinator = self._coordinator(settings.ARENA_DEBATE_LOOKBACK_BARS)


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


def debate_session_cancel(
    *, session_id: int, user: User | AnonymousUser | None = None, reason: str = ""
) -> tuple[DebateSession, bool]:
    """Cancel a queued or running debate; returns the session and whether it stopped already.

    A queued session (or a running one whose worker's lease ran out, so nobody runs it) is cancelled
    at once. A running one is flagged: its worker stops at the next safe point — the next time it
    waits for an agent, or at its final write at the latest — records what it did and spent, and
    ends ``cancelled`` without a consensus. Only the requester or staff may cancel (``user=None``
    is the system itself). Raises NotFoundError, DebateCancelForbiddenError, or
    DebateFinishedError (409) for a completed, failed or already cancelled debate.
    """
    session = DebateSession.objects.filter(pk=session_id).only("id", "status", "requested_by_id").first()
    if session is None:
        raise NotFoundError(f"No debate session {session_id}.")
    if user is not None and not (
        user.is_staff or (user.is_authenticated and user.pk == session.requested_by_id)
    ):
        raise DebateCancelForbiddenError("Only the user who requested a debate, or staff, can cancel it.")
    now = timezone.now()
    message = f"Cancelled by request: {reason}" if reason else "Cancelled by request."
    mine = DebateSession.objects.filter(pk=session_id)
    with transaction.atomic():
        stopped = mine.filter(
            Q(status=DebateStatus.QUEUED) | Q(status=DebateStatus.RUNNING, lease_expires_at__lt=now)
        ).update(
            status=DebateStatus.CANCELLED,
            cancel_requested_at=now,
            finished_at=now,
            lease_expires_at=None,
            error=message,
            updated_at=now,
        )
        flagged = stopped or mine.filter(status=DebateStatus.RUNNING).update(
            cancel_requested_at=Coalesce(F("cancel_requested_at"), Value(now)),
            error=message,
            updated_at=now,
        )
    if not flagged:
        status = mine.values_list("status", flat=True).first()
        raise DebateFinishedError(
            f"Debate {session_id} is already {status}; only a queued or running debate can be cancelled."
        )
    return DebateSession.objects.get(pk=session_id), bool(stopped)


@dataclass
class _Resume:
    """What an earlier attempt left that this one reuses: its recorded context and valid answers."""

    calls: list[ToolCall] = field(default_factory=list)
    results: dict[tuple[int, str], AgentResult] = field(default_factory=dict)


@transaction.atomic
def _attempt_resume(session: DebateSession, plan: PanelPlan) -> _Resume:
    """Keep an earlier attempt's context and its valid first-round analyst answers; drop the rest.

    Answers are kept only when the role's first-round seat still holds the same profile. Failed
    answers, judges, the escalation round and round records are discarded and will be redone: a
    retry deserves a fresh chance where the first attempt got no answer.
    """
    calls = sorted(session.tool_calls.all(), key=lambda c: c.sequence)
    results: dict[tuple[int, str], AgentResult] = {}
    if calls and not any(c.error for c in calls):
        for message in session.messages.filter(
            round=1, validation_status__in=[ValidationStatus.VALID, ValidationStatus.REPAIRED]
        ).prefetch_related("llm_calls"):
            spec = plan.analysts.get(message.role)
            result = _result_from_message(message, spec) if spec and spec.id == message.profile_id else None
            if result is not None:
                results[(1, message.role)] = result
    else:
        session.tool_calls.all().delete()
        calls = []
    keep = [m.pk for m in session.messages.filter(round=1, role__in=[role for _n, role in results])]
    session.messages.exclude(pk__in=keep).delete()
    session.rounds.all().delete()
    return _Resume(calls=calls, results=results)


def _result_from_message(message: DebateMessage, spec: ProfileSpec) -> AgentResult | None:
    """An earlier attempt's answer, with its ledger attempts so the session total still counts it."""
    try:
        output = AnalystOutput.model_validate(message.output)
    except PydanticValidationError:
        return None
    attempts = tuple(_attempt_from_row(row, spec) for row in message.llm_calls.all())
    return AgentResult(
        profile=spec,
        purpose="analysis",
        status="ok",
        output=output,
        raw_text=message.raw_output,
        error="",
        usage=Usage(),
        cost_usd=message.cost_usd,
        latency_ms=message.latency_ms,
        request_id=None,
        prompt_version=message.prompt_version,
        repaired_by=message.repaired_by,
        attempts=attempts,
        round=1,
        session_id=message.session_id,
    )


def _attempt_from_row(row: LlmCall, spec: ProfileSpec) -> CallAttempt:
    tokens = (row.input_tokens, row.output_tokens, row.cached_tokens, row.cache_write_tokens)
    usage = None if all(t is None for t in tokens) else Usage(*(t or 0 for t in tokens))
    return CallAttempt(
        attempt=row.attempt,
        profile=spec if spec.id == row.profile_id else dataclasses.replace(spec, id=row.profile_id),
        purpose=row.purpose,
        role=row.role,
        status=row.status,
        usage=usage,
        cost_usd=row.cost_usd,
        latency_ms=row.latency_ms,
        request_id=row.provider_request_id or None,
        error=row.error,
        prompt_version=row.prompt_version,
    )


def _lease_cover(sessions: Sequence[DebateSession], *, deadline_s: float) -> None:
    """Make sure the leases outlive the debates' deadline, or another worker could reclaim one live.

    One conditional UPDATE for the sessions whose lease falls short, none when they all cover it.
    """
    needed = timezone.now() + dt.timedelta(seconds=deadline_s + LEASE_MARGIN_S)
    short = [s for s in sessions if s.lease_expires_at is None or s.lease_expires_at < needed]
    if not short:
        return
    owned = Q()
    for session in short:
        owned |= Q(pk=session.pk, attempts=session.attempts)
    DebateSession.objects.filter(owned, status=DebateStatus.RUNNING).update(lease_expires_at=needed)
    for session in short:
        session.lease_expires_at = needed


@transaction.atomic
def _discard_partial(session: DebateSession) -> None:
    session.llm_calls.all().delete()
    session.messages.all().delete()
    session.tool_calls.all().delete()
    session.rounds.all().delete()


def _final_state(outcome: DebateOutcome) -> tuple[str, str]:
    if outcome.interrupted == DebateCancelledError.kind:
        return DebateStatus.CANCELLED, ""
    if outcome.decision is not None:
        return DebateStatus.COMPLETED, ""
    return DebateStatus.FAILED, outcome.failure or "The debate ended without a decision."


@dataclass
class _Final:
    """One attempt's end, ready to be written: the outcome and what the recorder already wrote."""

    session: DebateSession
    attempt: int
    outcome: DebateOutcome
    calls: list[ToolCall] = field(default_factory=list)
    written: frozenset[tuple[int, str]] = frozenset()
    tool_calls_written: bool = False


def _persist(
    session: DebateSession,
    *,
    attempt: int,
    outcome: DebateOutcome,
    calls: list[ToolCall],
    written: set[tuple[int, str]] | frozenset[tuple[int, str]] = frozenset(),
    tool_calls_written: bool = False,
) -> None:
    """One session's final write (:func:`_persist_many`), then ``consensus_created`` after commit."""
    final = _Final(session, attempt, outcome, calls, frozenset(written), tool_calls_written)
    for consensus in _persist_many([final]):
        _consensus_announce(consensus)


@transaction.atomic
def _persist_many(finals: Sequence[_Final]) -> list[DebateConsensus]:
    """Write the final states — status, cost, the messages not written yet, the rounds, the
    consensus — of one session or several in one transaction, each only while its attempt still
    owns the session; returns the consensus rows stored, in order (the caller announces them).

    First the session rows are ended, conditionally (:func:`_sessions_end`), which also locks them
    until commit. A session another delivery finished or took over meanwhile gets nothing written,
    and is refreshed; the consensus one-to-one key would refuse a second row anyway. A cancel
    request that arrived just before the end wins: the debate ends cancelled, without a consensus,
    its messages and spend recorded. Then one bulk INSERT per table for all the sessions.
    """
    live = []
    for final in finals:
        if final.outcome.interrupted == DebateSupersededError.kind:
            final.session.refresh_from_db()
        else:
            live.append(final)
    ended = _sessions_end(live)
    tool_calls_save_many([(f.session, f.calls) for f, _s in ended if not f.tool_calls_written])
    messages_save_many(
        [(f.session, n, r) for f, _s in ended for n, r in f.outcome.results if (n, r.role) not in f.written]
    )
    DebateRound.objects.bulk_create(
        [_round_row(f.session, rnd) for f, _s in ended for rnd in f.outcome.rounds]
    )
    return bulk_insert(
        DebateConsensus,
        [_consensus_row(f.session, f.outcome) for f, status in ended if status == DebateStatus.COMPLETED],
    )


def _sessions_end(finals: list[_Final]) -> list[tuple[_Final, str]]:
    """End the session rows this attempt still owns; returns those, with the status each got.

    Owned: running under the attempt's number. Each gets its outcome's status (:func:`_final_state`)
    unless a cancel request is on the row, which makes it cancelled. The rows are locked until the
    caller's commit; the sessions not owned are refreshed from the database and left out.
    """
    if len(finals) == 1:
        return _session_end(finals[0])
    if not finals:
        return []
    now = timezone.now()
    rows = {
        pk: (status, attempts, cancel_requested_at, error)
        for pk, status, attempts, cancel_requested_at, error in DebateSession.objects.select_for_update()
        .filter(pk__in=[f.session.pk for f in finals])
        .values_list("pk", "status", "attempts", "cancel_requested_at", "error")
    }
    ended = []
    for final in finals:
        status, attempts, cancel_requested_at, error = rows.get(final.session.pk, ("", 0, None, ""))
        if status != DebateStatus.RUNNING or attempts != final.attempt:
            final.session.refresh_from_db()
            continue
        values = _end_values(final.outcome, now)
        if cancel_requested_at is not None or values["status"] == DebateStatus.CANCELLED:
            # The cancel request wrote its reason into ``error``; keep it (or give a default).
            values |= {"status": DebateStatus.CANCELLED, "error": error or CANCELLED_BY_REQUEST}
        for name, value in values.items():
            setattr(final.session, name, value)
        final.session.cancel_requested_at = cancel_requested_at
        ended.append((final, values["status"]))
    bulk_update_rows(DebateSession, [f.session for f, _s in ended], _END_FIELDS)
    return ended


def _session_end(final: _Final) -> list[tuple[_Final, str]]:
    """:func:`_sessions_end` for one session: one conditional UPDATE, two when a cancel request
    came in just before the end (then the reason is the request's, computed in SQL)."""
    session = final.session
    values = _end_values(final.outcome, timezone.now())
    mine = DebateSession.objects.filter(pk=session.pk, status=DebateStatus.RUNNING, attempts=final.attempt)
    if values["status"] == DebateStatus.CANCELLED:
        updated = mine.update(**_cancelled(values))
    else:
        updated = mine.filter(cancel_requested_at__isnull=True).update(**values)
        if not updated:  # a cancel request came in just before the end
            updated = mine.update(**_cancelled(values))
            values["status"] = DebateStatus.CANCELLED
    if not updated:
        session.refresh_from_db()
        return []
    if values["status"] == DebateStatus.CANCELLED:
        session.refresh_from_db()  # the reason is the cancel request's, computed in SQL
    else:
        for name, value in values.items():
            setattr(session, name, value)
    return [(final, values["status"])]


_END_FIELDS = (
    "status",
    "error",
    "total_cost_usd",
    "unknown_cost_calls",
    "finished_at",
    "lease_expires_at",
    "updated_at",
)


def _end_values(outcome: DebateOutcome, now: dt.datetime) -> dict[str, Any]:
    """The session fields an outcome's end sets."""
    status, error = _final_state(outcome)
    costs = cost_summary(r for _n, r in outcome.results)
    return {
        "status": status,
        "error": error,
        "total_cost_usd": costs.known_usd,
        "unknown_cost_calls": costs.unknown_calls,
        "finished_at": now,
        "lease_expires_at": None,
        "updated_at": now,
    }


def _cancelled(values: dict[str, Any]) -> dict[str, Any]:
    """The cancel request already wrote its reason into ``error``; keep it (or give a default)."""
    return {
        **values,
        "status": DebateStatus.CANCELLED,
        "error": Coalesce(NullIf(F("error"), Value("")), Value(CANCELLED_BY_REQUEST)),
    }


def _round_row(session: DebateSession, rnd: RoundOutcome) -> DebateRound:
    stats = rnd.stats
    judge = rnd.judge_result
    return DebateRound(
        session=session,
        number=rnd.number,
        agreement_rate=stats.agreement_rate if stats else None,
        mean_confidence=stats.mean_confidence if stats else None,
        weighted_confidence=stats.weighted_confidence if stats else None,
        majority_stance=stats.majority.value if stats and stats.majority else "",
        high_risk=stats.high_risk if stats else False,
        valid_analysts=stats.valid if stats else 0,
        calls=len(rnd.results),
        triggers_fired=[f.as_dict() for f in rnd.triggers_fired],
        escalated_roles=[
            {"role": t.role, "reason": t.reason, "profile": _profile_name(rnd, t.role)} for t in rnd.escalated
        ],
        judge_profile_id=judge.profile.id if judge else None,
        judge_switched=rnd.judge_switched,
        cost_usd=rnd.cost_usd,
        unknown_cost_calls=rnd.unknown_cost_calls,
        latency_ms=rnd.latency_ms,
        notes=list(rnd.notes),
    )


def _profile_name(rnd: RoundOutcome, role: str) -> str:
    result = rnd.results.get(role)
    return result.profile.name if result else ""


def _consensus_row(session: DebateSession, outcome: DebateOutcome) -> DebateConsensus:
    """The unsaved consensus of a completed debate (a completed outcome has a decision and a judge)."""
    decision, judge = outcome.decision, outcome.judge_result
    assert decision is not None and judge is not None  # noqa: S101 - a completed debate decided
    return DebateConsensus(
        session=session,
        judge_profile_id=judge.profile.id,
        action=decision.action.value,
        size=decision.size,
        confidence=decision.confidence,
        rationale=decision.rationale,
        risk_checks=[c.model_dump(mode="json") for c in decision.risk_checks],
        order_intent=decision.order_intent.model_dump(mode="json") if decision.order_intent else None,
        agreement_rate=outcome.agreement_rate,
        valid_analysts=len(outcome.valid_analysts),
        escalated=outcome.escalated,
        triggers_fired=outcome.triggers_fired,
        decided_in_round=len(outcome.rounds),
    )


def _consensus_announce(consensus: DebateConsensus) -> None:
    """``consensus_created`` once the transaction that stored the consensus commits."""
    transaction.on_commit(
        lambda: consensus_created.send(
            sender=DebateSession,
            session_id=consensus.session_id,
            consensus_id=consensus.pk,
            consensus=consensus,
        )
    )
