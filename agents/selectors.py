"""Reads of profiles and panels."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from agents.models import ANALYST_ROLES, AgentProfile, Panel, PanelSeat, PanelStage, Role
from agents.providers.base import ProfileSpec
from arena_project.errors import NotFoundError


@dataclass(frozen=True)
class PanelPlan:
    """A panel resolved into immutable profile snapshots, ready for a debate."""

    panel_id: int
    name: str
    analysts: dict[str, ProfileSpec]
    escalation: dict[str, ProfileSpec]
    judge: ProfileSpec | None
    escalation_judge: ProfileSpec | None
    call_timeout_s: float
    deadline_s: float
    quorum: int


def panel_get(*, name: str | None = None) -> Panel:
    """The named panel, or the default one; NotFoundError when there is none."""
    qs = Panel.objects.all()
    panel = qs.filter(name=name).first() if name else qs.filter(is_default=True).first()
    if panel is None:
        what = f"Unknown panel {name!r}." if name else "No default panel: run `manage.py seed_demo`."
        raise NotFoundError(what, extra={"fields": {"panel": [what]}})
    return panel


def panel_plan_get(*, panel_id: int) -> PanelPlan:
    """One query for the panel and every seated profile; inactive profiles are left out."""
    seats = list(
        PanelSeat.objects.filter(panel_id=panel_id, profile__active=True).select_related("panel", "profile")
    )
    panel = seats[0].panel if seats else Panel.objects.get(pk=panel_id)
    by_stage: dict[str, dict[str, ProfileSpec]] = {stage: {} for stage in PanelStage.values}
    order = {role: i for i, role in enumerate((*ANALYST_ROLES, Role.JUDGE))}
    for seat in sorted(seats, key=lambda s: order[s.role]):
        by_stage[seat.stage][seat.role] = ProfileSpec.from_profile(seat.profile)
    return PanelPlan(
        panel_id=panel.pk,
        name=panel.name,
        analysts=by_stage[PanelStage.ANALYST],
        escalation=by_stage[PanelStage.ESCALATION],
        judge=next(iter(by_stage[PanelStage.JUDGE].values()), None),
        escalation_judge=next(iter(by_stage[PanelStage.ESCALATION_JUDGE].values()), None),
        call_timeout_s=panel.call_timeout_s,
        deadline_s=panel.deadline_s,
        quorum=panel.quorum,
    )


def profile_list() -> QuerySet[AgentProfile]:
    return AgentProfile.objects.order_by("name")
