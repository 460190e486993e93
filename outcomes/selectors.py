"""Reads of the outcomes app: outcomes with their whole trail, and the trade behind one debate."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from arena_project.errors import NotFoundError
from outcomes.models import Fill, OrderIntent, Outcome, RiskCheck


def outcome_list() -> QuerySet[Outcome]:
    """Outcomes newest first with decision, session, account, intent and order in one query."""
    return Outcome.objects.select_related(
        "consensus__session", "consensus__judge_profile", "account", "intent__broker_order"
    ).order_by("-created_at", "-id")


def outcome_detail_qs() -> QuerySet[Outcome]:
    return outcome_list().prefetch_related(
        Prefetch("intent__risk_checks", queryset=RiskCheck.objects.order_by("sequence")),
        Prefetch("intent__broker_order__fills", queryset=Fill.objects.order_by("filled_at", "id")),
    )


def outcome_get(*, outcome_id: int) -> Outcome:
    outcome = outcome_detail_qs().filter(pk=outcome_id).first()
    if outcome is None:
        raise NotFoundError(f"No outcome {outcome_id}.")
    return outcome


def decision_intents(*, consensus_id: int) -> QuerySet[OrderIntent]:
    """Every intent a decision produced (one per account), with checks, order and fills."""
    return (
        OrderIntent.objects.filter(consensus_id=consensus_id)
        .select_related("account", "broker_order")
        .prefetch_related(
            Prefetch("risk_checks", queryset=RiskCheck.objects.order_by("sequence")),
            Prefetch("broker_order__fills", queryset=Fill.objects.order_by("filled_at", "id")),
        )
        .order_by("id")
    )
