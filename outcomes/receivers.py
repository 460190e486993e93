"""Hooks into the debates app (connected in OutcomesConfig.ready)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from debates.models import DebateConsensus
from outcomes.services import decision_trade_open, decisions_trade_open

logger = logging.getLogger(__name__)


def on_consensus_created(
    sender: Any,
    *,
    session_id: int,
    consensus_id: int,
    consensus: DebateConsensus | None = None,
    **kwargs: Any,
) -> None:
    """A stored decision becomes its pending outcome and, for buy/sell, an order intent.

    The debate passes the consensus it just stored (with its session), which saves reading it back.
    Never raises into the debate that sent it (the debate is already committed): a failure is logged,
    and ``update_outcomes`` picks up a decision left without its outcome.
    """
    try:
        decision_trade_open(consensus_id=consensus_id, consensus=consensus)
    except Exception:
        logger.exception("decision %s of debate %s: trade not opened", consensus_id, session_id)


def on_consensus_batch_created(
    sender: Any,
    *,
    consensus_ids: Sequence[int],
    consensuses: Sequence[DebateConsensus] | None = None,
    **kwargs: Any,
) -> None:
    """Several stored decisions (one transaction's) become their outcomes and intents, in order.

    Same contract as :func:`on_consensus_created` for each: never raises into the debates that sent it.
    """
    try:
        decisions_trade_open(consensus_ids=consensus_ids, consensuses=consensuses)
    except Exception:
        logger.exception("decisions %s: trades not opened", list(consensus_ids))
