"""The ArenaCoordinator: analysts in parallel under deadlines, the agreement, escalation, then the judge.

One debate is at most two rounds, three under the ``staged`` scope (docs/coordinator.md has the whole flow):

1. The first-round analysts run concurrently on one event loop (asyncio tasks, no thread per call),
   each under ``min(per-call timeout, half the time left)`` so the judge always keeps its turn.
   A late, failed or invalid analyst is recorded and abstains. The analyst triggers are evaluated
   (debates/escalation.py); when none fires the first-round judge decides, and the judge trigger
   may still escalate.
2. An escalation reruns the chosen roles with their escalation profiles (the panel's scope), merges
   their answers over the first round's, and the judge (the escalation judge if the panel switches)
   decides. Under the ``staged`` scope round 2 reruns the dissenters only and the triggers are
   evaluated again on the merged panel; if they still escalate, round 3 reruns the roles round 2
   did not (no role twice). There is never a fourth round.

The coordinator does not touch the database itself. It reports to a :class:`DebateObserver`: results
that arrived while other calls are still outstanding are handed over before the coordinator waits
again (the debate service persists them, so a running debate shows its finished agents), and every
wait is a safe point where the observer may stop the debate (cancelled, or taken over by another
worker). Results that all arrive within one event-loop tick — the rules provider always does — are
never handed over mid-debate: the service writes them with the final state, in one transaction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from asgiref.sync import async_to_sync, sync_to_async

from agents.gateway import AgentResult, CallAttempt, CallStatus, run_agent
from agents.models import ANALYST_ROLES, EscalationScope, Provider, Role
from agents.providers.base import AgentRequest, ProfileSpec, Usage
from agents.schemas import AnalystOutput, AnalystView, JudgeOutput, MarketContext
from agents.selectors import PanelPlan
from debates.agreement import PanelStats, panel_stats
from debates.escalation import (
    EscalationTarget,
    TriggerFiring,
    analyst_triggers,
    escalation_due,
    escalation_targets,
    judge_trigger,
    remaining_targets,
)
from debates.tools import ToolRouter

#: Status of a call the coordinator stopped because the debate was cancelled or taken over.
CANCELLED = "cancelled"
#: How often (seconds) a debate waiting on slow agents looks at its safe point (cancel requests).
DEFAULT_POLL_S = 0.5
_MIN_STAGE_S = 0.001
_ROLE_ORDER = {role: i for i, role in enumerate((*ANALYST_ROLES, Role.JUDGE))}


class DebateFailedError(Exception):
    """The debate cannot reach a decision; the message is the reason recorded on the session."""


class DebateInterruptedError(Exception):
    """Raised by an observer at a safe point: stop now. ``kind`` is ``cancelled`` or ``superseded``."""

    kind = "interrupted"


class DebateCancelledError(DebateInterruptedError):
    kind = "cancelled"


class DebateSupersededError(DebateInterruptedError):
    """Another worker claimed the session (this one's lease ran out) or it is already finished."""

    kind = "superseded"


class DebateObserver:
    """Receives results as they arrive and decides at safe points whether the debate goes on.

    The base class does nothing: replays, simulators and benchmarks use it as is.
    """

    async def arrived(self, round_no: int, results: list[AgentResult]) -> None:
        """Results that arrived while other calls are still outstanding. Also a safe point."""

    async def checkpoint(self) -> None:
        """A safe point: raise :class:`DebateInterruptedError` to stop the debate."""


@dataclass
class RoundOutcome:
    """One round: the calls it made (by role, the judge under ``"judge"``) and what it measured."""

    number: int
    results: dict[str, AgentResult] = field(default_factory=dict)
    answers: dict[str, AnalystOutput] = field(default_factory=dict)
    stats: PanelStats | None = None
    triggers_fired: list[TriggerFiring] = field(default_factory=list)
    escalated: list[EscalationTarget] = field(default_factory=list)
    judge_switched: bool = False
    notes: list[str] = field(default_factory=list)
    latency_ms: int = 0

    @property
    def analyst_results(self) -> list[AgentResult]:
        return [r for role, r in self._ordered() if role != Role.JUDGE]

    @property
    def judge_result(self) -> AgentResult | None:
        return self.results.get(Role.JUDGE)

    @property
    def ordered_results(self) -> list[AgentResult]:
        """Analysts in panel order, then the judge: the order messages are written in."""
        return [r for _role, r in self._ordered()]

    @property
    def cost_usd(self) -> Decimal:
        """The known cost of this round's calls (every attempt, retries and repairs included)."""
        return sum((r.known_cost_usd for r in self.results.values()), Decimal(0))

    @property
    def unknown_cost_calls(self) -> int:
        """Attempts whose cost is unknown (no usage reported, no price, or cut off mid-flight)."""
        return sum(r.unknown_cost_attempts for r in self.results.values())

    @property
    def views(self) -> list[AnalystView]:
        return [AnalystView(role=role, output=output) for role, output in self.answers.items()]

    def _ordered(self) -> list[tuple[str, AgentResult]]:
        return sorted(self.results.items(), key=lambda item: _ROLE_ORDER.get(item[0], 99))


@dataclass
class DebateOutcome:
    """Everything a debate produced; the service persists it, replays and simulators compare it."""

    context: MarketContext | None = None
    rounds: list[RoundOutcome] = field(default_factory=list)
    failure: str = ""
    interrupted: str = ""
    #: (round, role) of results carried over from an earlier attempt (already persisted and paid for).
    resumed: set[tuple[int, str]] = field(default_factory=set)

    @property
    def results(self) -> list[tuple[int, AgentResult]]:
        """Every call of every round with its round number, in persisting order."""
        return [(rnd.number, r) for rnd in self.rounds for r in rnd.ordered_results]

    @property
    def analyst_results(self) -> list[AgentResult]:
        return [r for rnd in self.rounds for r in rnd.analyst_results]

    @property
    def judge_result(self) -> AgentResult | None:
        """The judge whose answer stands: the last round's (None when the last round had none)."""
        return self.rounds[-1].judge_result if self.rounds else None

    @property
    def decision(self) -> JudgeOutput | None:
        output = self.judge_result.output if self.judge_result else None
        return output if isinstance(output, JudgeOutput) and not self.failure else None

    @property
    def final_round(self) -> RoundOutcome | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def agreement_rate(self) -> float:
        last = self.final_round
        return last.stats.agreement_rate if last and last.stats else 0.0

    @property
    def valid_analysts(self) -> list[AnalystView]:
        last = self.final_round
        return last.views if last else []

    @property
    def escalated(self) -> bool:
        return len(self.rounds) > 1

    @property
    def triggers_fired(self) -> list[str]:
        """Names of the first-round triggers that fired (they caused the escalation, if one ran; with
        ``escalation_needs_all_triggers`` some may fire without escalating)."""
        return [f.trigger for f in self.rounds[0].triggers_fired] if self.rounds else []

    @property
    def cost_usd(self) -> Decimal:
        """Known cost of every call of every round (see ``debates.ledger.cost_summary`` for totals)."""
        return sum((rnd.cost_usd for rnd in self.rounds), Decimal(0))


class _Reporter:
    """Hands results to the observer in the background, one write at a time.

    Results are filed as they arrive; :meth:`hand_over` (called whenever the debate is about to
    wait) starts a write of everything filed since the last one, unless a write is running — then
    the next write takes what arrived meanwhile, so bursts of answers coalesce and the debate never
    waits for the database. With nothing to write, it asks the observer for a safe-point check at
    most every ``poll_s`` seconds. An interruption (or a database error) raised by the observer is
    kept and raised in the debate at its next safe point.
    """

    def __init__(self, observer: DebateObserver, poll_s: float) -> None:
        self.observer = observer
        self.poll_s = poll_s
        self.filed: list[tuple[int, AgentResult]] = []
        self.task: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()
        self.error: BaseException | None = None
        self.last = float("-inf")  # the first wait checks at once (the recorder stores the context then)

    def file(self, round_no: int, result: AgentResult) -> None:
        self.filed.append((round_no, result))

    def hand_over(self) -> None:
        if self.task is not None and not self.task.done():
            return
        if self.filed:
            batch, self.filed = self.filed, []
            self.task = asyncio.ensure_future(self._guarded(self._write(batch)))
        elif time.monotonic() - self.last >= self.poll_s:
            self.task = asyncio.ensure_future(self._guarded(self.observer.checkpoint()))

    async def _write(self, batch: list[tuple[int, AgentResult]]) -> None:
        for round_no in dict.fromkeys(n for n, _r in batch):
            await self.observer.arrived(round_no, [r for n, r in batch if n == round_no])

    async def _guarded(self, work: Coroutine[object, object, None]) -> None:
        try:
            await work
        except Exception as exc:  # kept for the debate to raise at its next safe point
            self.error = exc
            self.stopped.set()
        finally:
            self.last = time.monotonic()

    def raise_if_stopped(self) -> None:
        if self.error is not None:
            raise self.error

    async def drain(self) -> None:
        """Wait for the write in progress (its rows must be known before the final write)."""
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


class _Clock:
    """The debate deadline, on the monotonic clock."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.end = time.monotonic() + deadline_s

    def left(self) -> float:
        return self.end - time.monotonic()


class ArenaCoordinator:
    """Runs one debate for a resolved panel. Stateless between debates; one instance per debate."""

    def __init__(
        self,
        plan: PanelPlan,
        *,
        lookback: int,
        observer: DebateObserver | None = None,
        session_id: int | None = None,
        prior: Mapping[tuple[int, str], AgentResult] | None = None,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self.plan = plan
        self.policy = plan.policy
        self.lookback = lookback
        self.observer = observer or DebateObserver()
        self.session_id = session_id
        self.prior = dict(prior or {})
        self.poll_s = poll_s
        self._reporter = _Reporter(self.observer, poll_s)

    def run(self, router: ToolRouter, symbol: str, as_of: dt.date) -> DebateOutcome:
        """Gather the context through the router, then debate; see :meth:`run_on`."""
        self._check_plan()
        context = router.gather_context(symbol, as_of, lookback=self.lookback)
        return self.run_on(context)

    async def arun_through(self, router: ToolRouter, symbol: str, as_of: dt.date) -> DebateOutcome:
        """:meth:`run` for callers already on an event loop that async_to_sync runs (a batch of
        debates on one loop): the context is gathered on the caller's thread, as the observer's
        database work is."""
        self._check_plan()
        gather = sync_to_async(router.gather_context, thread_sensitive=True)
        context = await gather(symbol, as_of, lookback=self.lookback)
        return await self.arun(context)

    def run_on(self, context: MarketContext) -> DebateOutcome:
        """Debate on a given context from synchronous code.

        async_to_sync, not asyncio.run: database work that the observer hands to sync_to_async then
        runs back on this thread, with this thread's connection and transaction.
        Raises DebateFailedError for a panel that cannot debate at all; any other failure is an
        outcome with ``failure`` set, an interruption one with ``interrupted`` set.
        """
        return async_to_sync(self.arun)(context)

    async def arun(self, context: MarketContext) -> DebateOutcome:
        """The debate itself, for callers that already run an event loop (bursts, simulators)."""
        self._check_plan()
        outcome = DebateOutcome(context=context)
        clock = _Clock(self.plan.deadline_s)
        self._reporter = _Reporter(self.observer, self.poll_s)
        try:
            try:
                await self._debate(outcome, context, clock)
            finally:
                await self._reporter.drain()  # no write may overlap the caller's final one
            self._reporter.raise_if_stopped()  # learned after the last safe point: still honoured
        except DebateInterruptedError as exc:
            outcome.interrupted = exc.kind
            outcome.failure = str(exc)
        return outcome

    def _check_plan(self) -> None:
        if not self.plan.analysts or self.plan.judge is None:
            raise DebateFailedError(f"Panel {self.plan.name!r} needs first-round analysts and a judge.")

    # --- the flow ------------------------------------------------------------------------------

    async def _debate(self, outcome: DebateOutcome, context: MarketContext, clock: _Clock) -> None:
        first = RoundOutcome(number=1)
        outcome.rounds.append(first)
        started = time.monotonic()
        try:
            await self._analysts(outcome, first, context, clock, dict(self.plan.analysts), "analysis")
            first.answers = _valid(first.results)
            first.stats = panel_stats(first.answers)
            first.triggers_fired = analyst_triggers(self.policy, first.stats, quorum=self.plan.quorum)
            if not escalation_due(self.policy, first.triggers_fired, judge_asked=False):
                if first.stats.valid < self.plan.quorum:
                    outcome.failure = self._quorum_failure(first)
                    return
                decision = await self._judge(first, context, clock, self._judge_profile(switch=False))
                fired = judge_trigger(self.policy, decision, _error(first.judge_result))
                if fired is not None:
                    first.triggers_fired.append(fired)
                if not escalation_due(self.policy, first.triggers_fired, judge_asked=True):
                    if decision is None:
                        outcome.failure = self._judge_failure(first)
                    return
        finally:
            first.latency_ms = _ms_since(started)
        await self._escalate(outcome, first, context, clock)

    async def _escalate(
        self, outcome: DebateOutcome, first: RoundOutcome, context: MarketContext, clock: _Clock
    ) -> None:
        """Run the second round (and, under the ``staged`` scope, a third when the triggers still
        escalate), or explain why none can run and settle on the first round."""
        assert first.stats is not None  # noqa: S101 - set by the first round
        switch = bool(self.policy.escalation_switches_judge and self.plan.escalation_judge)
        targets = escalation_targets(
            self.policy,
            first.stats,
            asked=first.results,
            answers=first.answers,
            escalation_roles=self.plan.escalation,
            fired=first.triggers_fired,
            judge_switches=switch,
        )
        why_not = self._why_no_escalation(targets, switch, clock)
        if why_not:
            first.notes.append(f"escalation not run: {why_not}")
            await self._settle(outcome, first, context, clock, switch=False)
            return
        second = RoundOutcome(number=2, escalated=targets, judge_switched=switch)
        outcome.rounds.append(second)
        staged = self.policy.escalation_scope == EscalationScope.STAGED
        if await self._escalation_round(outcome, first, second, context, clock, staged=staged):
            await self._last_stage(outcome, second, context, clock)

    async def _escalation_round(
        self,
        outcome: DebateOutcome,
        previous: RoundOutcome,
        rnd: RoundOutcome,
        context: MarketContext,
        clock: _Clock,
        *,
        staged: bool,
    ) -> bool:
        """Rerun ``rnd.escalated`` over ``previous``'s panel, then let the judge decide.

        With ``staged`` the triggers are evaluated again on the merged panel, as in the first round
        (the judge is asked only when the analyst triggers leave it to the judge trigger), and True
        means they still escalate: the caller runs the last stage and this round's judge, if asked,
        does not decide. Otherwise its ``triggers_fired`` are informational.
        """
        started = time.monotonic()
        try:
            profiles = {t.role: self.plan.escalation[t.role] for t in rnd.escalated}
            await self._analysts(outcome, rnd, context, clock, profiles, "escalation")
            rnd.answers = self._merge(previous, rnd)
            rnd.stats = panel_stats(rnd.answers)
            rnd.triggers_fired = analyst_triggers(self.policy, rnd.stats, quorum=self.plan.quorum)
            if staged and escalation_due(self.policy, rnd.triggers_fired, judge_asked=False):
                return True
            if rnd.stats.valid < self.plan.quorum:
                outcome.failure = self._quorum_failure(*outcome.rounds)
                return False
            decision = await self._judge(rnd, context, clock, self._judge_profile(switch=rnd.judge_switched))
            if staged:
                fired = judge_trigger(self.policy, decision, _error(rnd.judge_result))
                if fired is not None:
                    rnd.triggers_fired.append(fired)
                if escalation_due(self.policy, rnd.triggers_fired, judge_asked=True):
                    return True
            if decision is None:
                outcome.failure = self._judge_failure(rnd)
            return False
        finally:
            rnd.latency_ms = _ms_since(started)

    async def _last_stage(
        self, outcome: DebateOutcome, second: RoundOutcome, context: MarketContext, clock: _Clock
    ) -> None:
        """A staged escalation whose triggers still fire: round 3 reruns the roles round 2 did not,
        so the panel ends fully escalated and no role is paid for twice; when none is left, or the
        deadline has passed, round 2 settles (its judge decides, asked now if it was not yet)."""
        targets = remaining_targets(
            self.policy, escalation_roles=self.plan.escalation, rerun=[t.role for t in second.escalated]
        )
        why_not = ""
        if not targets:
            why_not = "every role with an escalation seat was already rerun"
        elif clock.left() <= _MIN_STAGE_S:
            why_not = f"the debate deadline ({self.plan.deadline_s:g} s) has passed"
        if why_not:
            second.notes.append(f"third round not run: {why_not}")
            await self._settle(outcome, second, context, clock, switch=second.judge_switched)
            return
        third = RoundOutcome(number=3, escalated=targets, judge_switched=second.judge_switched)
        outcome.rounds.append(third)
        await self._escalation_round(outcome, second, third, context, clock, staged=False)

    async def _settle(
        self,
        outcome: DebateOutcome,
        rnd: RoundOutcome,
        context: MarketContext,
        clock: _Clock,
        *,
        switch: bool,
    ) -> None:
        """No further round possible: ``rnd``'s judge decides (asked now if it was not yet)."""
        assert rnd.stats is not None  # noqa: S101
        if rnd.stats.valid < self.plan.quorum:
            outcome.failure = self._quorum_failure(*outcome.rounds)
            return
        decision = rnd.judge_result.output if rnd.judge_result else None
        if rnd.judge_result is None:
            started = time.monotonic() - rnd.latency_ms / 1000
            decision = await self._judge(rnd, context, clock, self._judge_profile(switch=switch))
            rnd.latency_ms = _ms_since(started)
        if not isinstance(decision, JudgeOutput):
            outcome.failure = self._judge_failure(rnd)

    def _why_no_escalation(self, targets: list[EscalationTarget], switch: bool, clock: _Clock) -> str:
        if not targets and not switch:
            return "the panel has no escalation seats for these roles and no escalation judge to switch to"
        if clock.left() <= _MIN_STAGE_S:
            return f"the debate deadline ({self.plan.deadline_s:g} s) has passed"
        return ""

    def _merge(self, first: RoundOutcome, second: RoundOutcome) -> dict[str, AnalystOutput]:
        """First-round answers overlaid with the escalated ones; a failed escalation keeps the first."""
        merged = dict(first.answers)
        for role in second.results:
            result = second.results[role]
            if isinstance(result.output, AnalystOutput):
                merged[role] = result.output
            elif role in merged:
                second.notes.append(f"{role}: escalation call {result.status}, first-round answer kept")
            else:
                second.notes.append(f"{role}: escalation call {result.status}, no answer from this role")
        return {role: merged[role] for role in ANALYST_ROLES if role in merged}

    def _judge_profile(self, *, switch: bool) -> ProfileSpec:
        judge = self.plan.escalation_judge if switch and self.plan.escalation_judge else self.plan.judge
        assert judge is not None  # noqa: S101 - checked by _check_plan
        return judge

    def _quorum_failure(self, *rounds: RoundOutcome) -> str:
        """Why the quorum failed, naming every analyst call that gave no valid answer."""
        last = rounds[-1]
        valid = last.stats.valid if last.stats else 0
        asked = {r.role for rnd in rounds for r in rnd.analyst_results}
        where = " after escalation" if len(rounds) > 1 else ""
        failures = "; ".join(
            f"{r.role} (round {rnd.number}): {r.status}"
            for rnd in rounds
            for r in rnd.analyst_results
            if not isinstance(r.output, AnalystOutput)
        )
        return (
            f"Quorum not met{where}: {valid} valid analyst(s) of {len(asked)} asked "
            f"(quorum {self.plan.quorum})." + (f" No valid answer from {failures}." if failures else "")
        )

    @staticmethod
    def _judge_failure(rnd: RoundOutcome) -> str:
        return f"The judge gave no valid decision: {_error(rnd.judge_result) or 'no answer'}"

    # --- calls ---------------------------------------------------------------------------------

    async def _analysts(
        self,
        outcome: DebateOutcome,
        rnd: RoundOutcome,
        context: MarketContext,
        clock: _Clock,
        profiles: dict[str, ProfileSpec],
        purpose: str,
    ) -> None:
        """Ask ``profiles`` concurrently; analysts get at most half the time left (the judge the rest)."""
        budget, reason = self._budget(clock, share=0.5)
        requests = {}
        for role, profile in profiles.items():
            prior = self.prior.get((rnd.number, role))
            if prior is not None and prior.profile.id == profile.id:
                rnd.results[role] = prior  # answered by an earlier attempt of this session
                outcome.resumed.add((rnd.number, role))
            else:
                requests[role] = self._request(profile, context, purpose, rnd.number)
        await self._ask(rnd, requests, budget, reason)

    async def _judge(
        self, rnd: RoundOutcome, context: MarketContext, clock: _Clock, judge: ProfileSpec
    ) -> JudgeOutput | None:
        budget, reason = self._budget(clock, share=1.0)
        request = self._request(judge, context, "judge", rnd.number, views=tuple(rnd.views))
        await self._ask(rnd, {Role.JUDGE: request}, budget, reason)
        output = rnd.results[Role.JUDGE].output
        return output if isinstance(output, JudgeOutput) else None

    def _budget(self, clock: _Clock, *, share: float) -> tuple[float, str]:
        left = clock.left()
        if left <= _MIN_STAGE_S:
            return 0.0, f"the debate deadline ({self.plan.deadline_s:g} s) had passed"
        stage = left * share
        if self.plan.call_timeout_s <= stage:
            return self.plan.call_timeout_s, f"the per-call timeout ({self.plan.call_timeout_s:g} s)"
        return (
            stage,
            f"the debate deadline ({self.plan.deadline_s:g} s; {stage:.2f} s were left for this call)",
        )

    def _request(
        self,
        profile: ProfileSpec,
        context: MarketContext,
        purpose: str,
        round_no: int,
        views: tuple[AnalystView, ...] = (),
    ) -> AgentRequest:
        return AgentRequest(
            profile=profile,
            context=context,
            analyst_views=views,
            purpose=purpose,
            quorum=self.plan.quorum,
            session_id=self.session_id,
            round=round_no,
        )

    async def _ask(
        self, rnd: RoundOutcome, requests: dict[str, AgentRequest], budget: float, reason: str
    ) -> None:
        """Run the calls concurrently, filing each result in ``rnd`` as it arrives.

        Calls that answer within the current tick are filed without a hand-over. As soon as anything
        is outstanding, every result not yet handed over is given to the reporter, which persists it
        in the background (the debate does not wait for the database); waiting is a safe point,
        where an interruption the reporter learned of is raised. On interruption the outstanding
        calls are cancelled and filed as cancelled, and the interruption propagates.
        """
        if not requests:
            return
        reporter = self._reporter
        tasks = {
            asyncio.ensure_future(self._call(request, budget, reason)): role
            for role, request in requests.items()
        }
        pending = set(tasks)
        stopped = asyncio.ensure_future(reporter.stopped.wait())
        try:
            await asyncio.sleep(0)  # let calls that need no I/O (the rules provider) finish first
            while True:
                for task in [t for t in pending if t.done()]:
                    pending.discard(task)
                    rnd.results[tasks[task]] = task.result()
                    reporter.file(rnd.number, task.result())
                reporter.raise_if_stopped()
                if not pending:
                    return
                reporter.hand_over()
                await asyncio.wait(
                    {*pending, stopped}, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED
                )
        except BaseException:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in pending:
                rnd.results[tasks[task]] = _stopped(
                    requests[tasks[task]], CANCELLED, "stopped: the debate was cancelled or taken over"
                )
            raise
        finally:
            stopped.cancel()

    async def _call(self, request: AgentRequest, budget: float, reason: str) -> AgentResult:
        """One gateway call under ``budget`` seconds; never raises (except for cancellation).

        The gateway is told the budget (each attempt's timeout and a deadline for new attempts), so
        it normally returns a timed-out result itself, with its attempts for the ledger. A provider
        that ignores its timeout is cut off by the guard, a moment later.
        """
        started = time.perf_counter()
        if budget <= 0:
            return _stopped(request, CallStatus.TIMEOUT, f"not asked: {reason}", started, in_flight=False)
        request = dataclasses.replace(request, timeout_s=budget, deadline=time.monotonic() + budget)
        try:
            async with asyncio.timeout(budget + _guard(budget)):
                return await run_agent(request)
        except TimeoutError:
            error = f"no answer within {budget:.2f} s ({reason})"
            return _stopped(request, CallStatus.TIMEOUT, error, started)
        except Exception as exc:  # run_agent promises not to raise; a bug there must not sink the debate
            return _stopped(request, CallStatus.PROVIDER_ERROR, f"{type(exc).__name__}: {exc}", started)


def _valid(results: dict[str, AgentResult]) -> dict[str, AnalystOutput]:
    return {
        role: r.output
        for role in ANALYST_ROLES
        if (r := results.get(role)) is not None and isinstance(r.output, AnalystOutput)
    }


def _error(result: AgentResult | None) -> str:
    if result is None:
        return ""
    return result.error or (result.status if result.status != CallStatus.OK else "")


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _guard(budget: float) -> float:
    """How long past its budget a call may run before the coordinator cuts it off itself."""
    return min(1.0, 0.05 + 0.1 * budget)


def _stopped(
    request: AgentRequest, status: str, error: str, started: float | None = None, *, in_flight: bool = True
) -> AgentResult:
    """The result of a call that gave no answer: it timed out, was cancelled, or crashed.

    A call cut off in flight may have been billed: unless it is the free rules provider it gets one
    ledger attempt with an unknown cost (the ledger has no "cancelled" status; such an attempt is
    recorded as a timeout, its error says what happened).
    """
    latency = int((time.perf_counter() - started) * 1000) if started is not None else 0
    attempts: tuple[CallAttempt, ...] = ()
    if in_flight and request.profile.provider != Provider.RULES:
        attempts = (
            CallAttempt(
                attempt=1,
                profile=request.profile,
                purpose=request.purpose,
                role=request.role,
                status=CallStatus.TIMEOUT if status == CANCELLED else status,
                usage=None,
                cost_usd=None,
                latency_ms=latency,
                request_id=None,
                error=error,
                prompt_version="",
            ),
        )
    return AgentResult(
        profile=request.profile,
        purpose=request.purpose,
        status=status,
        output=None,
        raw_text="",
        error=error,
        usage=Usage(),
        cost_usd=Decimal(0) if request.profile.provider == Provider.RULES else None,
        latency_ms=latency,
        request_id=None,
        prompt_version="",
        attempts=attempts,
        round=request.round,
        session_id=request.session_id,
    )
