"""The "trade" section of a debate session's detail (registered in OutcomesConfig.ready)."""

from __future__ import annotations

from typing import Any

from debates.models import DebateSession
from outcomes.api.serializers import TradeSectionSerializer
from outcomes.models import Outcome
from outcomes.selectors import decision_intents


def trade_section(session: DebateSession) -> dict[str, Any] | None:
    """Intent, risk checks, broker order, fills and outcome of the session's decision (None: no decision)."""
    consensus = getattr(session, "consensus", None)
    if consensus is None:
        return None
    outcome = Outcome.objects.select_related("account").filter(consensus=consensus).first()
    intent = next(iter(decision_intents(consensus_id=consensus.pk)), None)
    order = getattr(intent, "broker_order", None) if intent is not None else None
    account = outcome.account if outcome is not None else (intent.account if intent is not None else None)
    section = {
        "account": account,
        "intent": intent,
        "risk_checks": intent.risk_checks.all() if intent else [],
        "broker_order": order,
        "fills": order.fills.all() if order else [],
        "outcome": outcome,
    }
    return dict(TradeSectionSerializer(section).data)
