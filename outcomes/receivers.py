"""Hooks into the debates app (connected in OutcomesConfig.ready)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from debates.models import DebateConsensus
from outcomes.services import decision_trade_open_enqueue, decisions_trade_open

logger = logging.getLogger(__name__)


def on_consensus_created(
    sender: Any,
    *,
    session_id: int,
    consensus_id: int,
    consensus: DebateConsensus | None = None,
    **kwargs: Any,
) -> None:
    """A committed decision is queued to become its pending outcome and, for buy/sell, an order intent.

    The trade is opened by the ``outcomes.tasks.trade_open`` task, not inside the debate's call: the
    debate is done once its decision is stored. Never raises into the debate that sent it (already
    committed): a failure to enqueue is logged, and ``update_outcomes`` picks up a decision left
    without its outcome. (``consensus`` is accepted for the signal's contract; the task reads by id.)
    """
    try:
        decision_trade_open_enqueue(consensus_id=consensus_id)
    except Exception:
        logger.exception("decision %s of debate %s: trade not queued", consensus_id, session_id)


def on_consensus_batch_created(
    sender: Any,
    *,
    consensus_ids: Sequence[int],
    consensuses: Sequence[DebateConsensus] | None = None,
    **kwargs: Any,
) -> None:
    """Several stored decisions (one transaction's) become their outcomes and intents, in order, here.

    Unlike a single decision's, a batch's trades are opened inline: its sender (a backtest's day) reads
    them before it goes on, and one call opens them all for a few statements per account. The same
    outcomes and intents as one ``trade_open`` per decision; never raises into the debates that sent it.
    """
    try:
        decisions_trade_open(consensus_ids=consensus_ids, consensuses=consensuses)
    except Exception:
        logger.exception("decisions %s: trades not opened", list(consensus_ids))
