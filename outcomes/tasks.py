"""django-q2 tasks of the outcomes app. Delivery is at-least-once: each task claims its work first."""

from __future__ import annotations

from outcomes.services import decision_trade_open, order_intent_claim, order_intent_submit, outcomes_update


def trade_open(consensus_id: int) -> str:
    """Open a committed decision's trade: its pending outcome and, for buy/sell, a risk-checked intent.

    A second delivery finds the outcome and returns it unchanged (the account's row lock serialises two
    deliveries running at once); an approved intent's submission is queued as ``order_submit``.
    """
    outcome = decision_trade_open(consensus_id=consensus_id)
    intent = outcome.intent
    return f"outcome {outcome.pk}" + (f", intent {intent.pk} {intent.status}" if intent else ", no trade")


def order_submit(intent_id: int) -> str:
    """Submit an approved intent once; a second delivery finds it claimed or linked and does nothing.

    A broker that cannot be reached raises: the claim is released and django-q2 delivers the task
    again after its retry period; that delivery looks the order up by its client order id first.
    """
    if not order_intent_claim(intent_id=intent_id):
        return "skipped: already claimed, submitted or finished"
    order = order_intent_submit(intent_id=intent_id)
    return f"linked broker order {order.broker_order_id}" if order else "ended without a broker order"


def outcomes_update_task() -> str:
    """The scheduled job (every few minutes): sync open orders and settle what became judgeable."""
    return str(outcomes_update())
