"""django-q2 tasks of the outcomes app. Delivery is at-least-once: each task claims its work first."""

from __future__ import annotations

from outcomes.services import order_intent_claim, order_intent_submit, outcomes_update


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
