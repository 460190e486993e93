"""Persisting a debate while it runs: messages as they arrive, safe points, and attempt fencing.

The coordinator hands results to :class:`SessionRecorder` only when something is still outstanding
(see debates/coordinator.py), so a debate whose agents all answer at once (the rules panel) costs no
extra write: everything goes into the final transaction of ``debates.services._persist``.

Every write here first locks the session row and checks that this worker still owns it — status
``running`` with the attempt number it claimed — so a worker whose lease ran out and was replaced
(a "zombie") cannot add rows to a session another attempt now runs, and a cancel request is seen at
the next safe point. The checks run on the caller's thread (``sync_to_async(thread_sensitive=True)``,
under the coordinator's ``async_to_sync``), with its connection.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import transaction

from agents.gateway import AgentResult
from agents.schemas import AnalystOutput, JudgeOutput
from arena_project.bulk import bulk_insert
from debates.coordinator import DebateCancelledError, DebateObserver, DebateSupersededError
from debates.ledger import llm_calls_record, money
from debates.models import DebateMessage, DebateSession, DebateStatus, ToolCall, ValidationStatus
from debates.tools import ToolRouter


def message_build(session: DebateSession, result: AgentResult, round_no: int) -> DebateMessage:
    """The message row for one agent result (an invalid or failed answer is kept, and abstains)."""
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


def messages_save(session: DebateSession, results: list[tuple[int, AgentResult]]) -> None:
    """Insert the messages of one session's ``(round, result)`` pairs (see :func:`messages_save_many`)."""
    messages_save_many([(session, n, r) for n, r in results])


def messages_save_many(rows: list[tuple[DebateSession, int, AgentResult]]) -> None:
    """Insert the messages of ``(session, round, result)`` triples, of one session or several, and one
    ledger row per attempt of each, linked to its message: one statement each (the caller holds the
    transaction)."""
    if not rows:
        return
    messages = bulk_insert(DebateMessage, [message_build(s, r, n) for s, n, r in rows])
    llm_calls_record(results=zip((r for _s, _n, r in rows), messages, strict=True))


def tool_calls_save(session: DebateSession, calls: list[ToolCall]) -> None:
    """Insert one session's router records (see :func:`tool_calls_save_many`)."""
    tool_calls_save_many([(session, calls)])


def tool_calls_save_many(batches: list[tuple[DebateSession, list[ToolCall]]]) -> None:
    """Insert the router records of one session or several, the bar history with them, in one
    statement (arena_project/bulk.py)."""
    rows = []
    for session, calls in batches:
        for call in calls:
            call.session = session
            rows.append(call)
    bulk_insert(ToolCall, rows)


class SessionRecorder(DebateObserver):
    """The debate service's observer: writes arrived results, stops the debate when told to.

    ``written`` holds the (round, role) pairs already in the database (including those carried
    over from an earlier attempt); ``_persist`` writes the rest with the final state.
    """

    def __init__(
        self,
        session: DebateSession,
        *,
        attempt: int,
        router: ToolRouter,
        written: set[tuple[int, str]] | None = None,
        tool_calls_written: bool = False,
    ) -> None:
        self.session = session
        self.attempt = attempt
        self.router = router
        self.written: set[tuple[int, str]] = set(written or ())
        self.tool_calls_written = tool_calls_written

    async def arrived(self, round_no: int, results: list[AgentResult]) -> None:
        await sync_to_async(self._write, thread_sensitive=True)(round_no, results)

    async def checkpoint(self) -> None:
        await sync_to_async(self._check, thread_sensitive=True)()

    def _write(self, round_no: int, results: list[AgentResult]) -> None:
        fresh = [r for r in results if (round_no, r.role) not in self.written]
        with transaction.atomic():
            self._lock()
            if not self.tool_calls_written:
                # The context goes in with the first answers, so a retry can resume on the same context.
                tool_calls_save(self.session, self.router.calls)
                self.tool_calls_written = True
            messages_save(self.session, [(round_no, r) for r in fresh])
        self.written.update((round_no, r.role) for r in fresh)

    def _check(self) -> None:
        """A safe point. The first one also stores the context, while the first agents think, so
        neither a retry's resume nor the final write has to wait for it."""
        if self.tool_calls_written:
            self._verdict(
                DebateSession.objects.filter(pk=self.session.pk)
                .values_list("status", "attempts", "cancel_requested_at")
                .first()
            )
            return
        with transaction.atomic():
            self._lock()
            tool_calls_save(self.session, self.router.calls)
            self.tool_calls_written = True

    def _lock(self) -> None:
        self._verdict(
            DebateSession.objects.select_for_update()
            .filter(pk=self.session.pk)
            .values_list("status", "attempts", "cancel_requested_at")
            .first()
        )

    def _verdict(self, row: tuple[str, int, object] | None) -> None:
        if row is None:
            raise DebateSupersededError("The session was deleted while it ran.")
        status, attempts, cancel_requested_at = row
        if status != DebateStatus.RUNNING or attempts != self.attempt:
            raise DebateSupersededError(
                f"Attempt {self.attempt} no longer owns the session (now {status}, attempt {attempts})."
            )
        if cancel_requested_at is not None:
            raise DebateCancelledError("Cancelled by request.")
