"""The ArenaCoordinator: context through the tool router, analysts in parallel, then the judge.

It touches no database: it takes a resolved panel and a tool router and returns a
:class:`DebateOutcome`, which the debate service persists in one transaction. That keeps the
event loop free of ORM calls and makes the same code serve the worker, the command and replays.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync

from agents.gateway import AgentResult, run_agent
from agents.providers.base import AgentRequest, ProfileSpec
from agents.schemas import AnalystOutput, AnalystView, JudgeOutput, MarketContext
from agents.selectors import PanelPlan
from debates.agreement import agreement_rate
from debates.tools import ToolRouter


class DebateFailedError(Exception):
    """The debate cannot reach a decision; the message is the reason recorded on the session."""


@dataclass
class DebateOutcome:
    context: MarketContext | None = None
    analyst_results: list[AgentResult] = field(default_factory=list)
    judge_result: AgentResult | None = None
    agreement_rate: float = 0.0
    failure: str = ""

    @property
    def valid_analysts(self) -> list[AnalystView]:
        return [
            AnalystView(role=r.role, output=r.output)
            for r in self.analyst_results
            if isinstance(r.output, AnalystOutput)
        ]

    @property
    def decision(self) -> JudgeOutput | None:
        output = self.judge_result.output if self.judge_result else None
        return output if isinstance(output, JudgeOutput) else None


class ArenaCoordinator:
    def __init__(self, plan: PanelPlan, *, lookback: int) -> None:
        self.plan = plan
        self.lookback = lookback

    def run(self, router: ToolRouter, symbol: str, as_of: dt.date) -> DebateOutcome:
        """Run one debate; raises DebateFailedError (with the partial outcome attached) on failure."""
        outcome = DebateOutcome()
        if not self.plan.analysts or self.plan.judge is None:
            raise DebateFailedError(f"Panel {self.plan.name!r} needs analysts and a judge.")
        outcome.context = router.gather_context(symbol, as_of, lookback=self.lookback)
        # async_to_sync, not asyncio.run: database work that async code hands to sync_to_async then runs
        # back on this thread, with this thread's connection and transaction.
        return async_to_sync(self._debate)(outcome, outcome.context, self.plan.judge)

    async def _debate(
        self, outcome: DebateOutcome, context: MarketContext, judge: ProfileSpec
    ) -> DebateOutcome:
        requests = [AgentRequest(profile=p, context=context) for p in self.plan.analysts.values()]
        outcome.analyst_results = list(await asyncio.gather(*(run_agent(r) for r in requests)))
        views = outcome.valid_analysts
        outcome.agreement_rate = agreement_rate(v.output for v in views)
        if len(views) < self.plan.quorum:
            valid, asked, quorum = len(views), len(requests), self.plan.quorum
            outcome.failure = f"Quorum not met: {valid} valid analyst(s) of {asked} (quorum {quorum})."
            return outcome
        outcome.judge_result = await run_agent(
            AgentRequest(
                profile=judge,
                context=context,
                analyst_views=tuple(views),
                purpose="judge",
                quorum=self.plan.quorum,
            )
        )
        if outcome.decision is None:
            outcome.failure = f"The judge gave no valid decision: {outcome.judge_result.error}"
        return outcome
