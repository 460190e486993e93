"""django-q2 tasks of the competition app. Delivery is at-least-once: each task claims its work first.

A backtest runs in slices of ``ARENA_COMPETITION_SLICE_SECONDS`` (below the cluster's timeout): a
slice that runs out of time puts the run back in the queue and enqueues the next slice, which
resumes from the last completed day.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from competition.services.engine import StepResult, competition_backtest_advance
from competition.services.paper import competition_paper_advance
from competition.services.rollup import leaderboard_rollup_refresh
from competition.services.runs import (
    competition_backtest_enqueue,
    competition_run_release,
)

logger = logging.getLogger(__name__)


def competition_backtest(run_id: int) -> str:
    """Run one slice of a backtest; a second delivery finds the run claimed (or finished) and skips."""
    from competition.services.runs import competition_run_claim

    if not competition_run_claim(run_id=run_id):
        return "skipped: already claimed or finished"
    deadline = time.monotonic() + settings.ARENA_COMPETITION_SLICE_SECONDS
    try:
        result = competition_backtest_advance(run_id=run_id, deadline=deadline)
    except Exception as exc:  # recorded on the run as failed; a redelivery must not rerun it
        return f"failed: {type(exc).__name__}"
    if result == StepResult.PAUSED and competition_run_release(run_id=run_id):
        competition_backtest_enqueue(run_id=run_id)
        return "paused: next slice enqueued"
    return result


def competition_paper_tick(run_id: int) -> str:
    """One tick of a paper run (its django-q2 schedule calls this)."""
    return competition_paper_advance(run_id=run_id)


def leaderboard_rollup_refresh_task() -> str:
    """The scheduled refresh of the leaderboard's daily rollup."""
    return str(leaderboard_rollup_refresh())
