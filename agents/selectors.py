"""Reads of profiles and panels."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from agents.models import ANALYST_ROLES, AgentProfile, Panel, PanelSeat, PanelStage, ProfileFallback, Role
from agents.providers.base import ProfileSpec
from agents.validation import fallback_chain
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
    specs = profile_specs_resolve([seat.profile for seat in seats])
    for seat in sorted(seats, key=lambda s: order[s.role]):
        by_stage[seat.stage][seat.role] = specs[seat.profile.pk]
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


def profile_specs_resolve(profiles: Iterable[AgentProfile]) -> dict[int, ProfileSpec]:
    """Snapshots of ``profiles`` with their fallback chains and repair profiles, in two queries.

    The chain is flattened depth first (a fallback's own fallbacks follow it), skips inactive
    profiles and never repeats one, so a chain is finite even if the graph were cyclic.
    """
    profiles = list(profiles)
    graph: dict[int, list[int]] = {}
    edges = ProfileFallback.objects.filter(fallback__active=True).order_by("profile_id", "position")
    for source, target in edges.values_list("profile_id", "fallback_id"):
        graph.setdefault(source, []).append(target)
    chains = {p.pk: fallback_chain(p.pk, graph) for p in profiles}
    wanted = {pk for chain in chains.values() for pk in chain} | {p.pk for p in profiles}
    known = {p.pk: p for p in profiles}
    missing = wanted - set(known)
    if missing:
        known.update(AgentProfile.objects.in_bulk(list(missing)))
    repair_ids = {p.repair_profile_id for p in known.values() if p.repair_profile_id} - set(known)
    if repair_ids:
        known.update(AgentProfile.objects.in_bulk(list(repair_ids)))

    def bare(pk: int) -> ProfileSpec:
        profile = known[pk]
        repair = profile.repair_profile_id
        repair_spec = ProfileSpec.from_profile(known[repair]) if repair and known[repair].active else None
        return ProfileSpec.from_profile(profile, repair=repair_spec)

    return {
        p.pk: ProfileSpec.from_profile(
            p,
            fallbacks=tuple(bare(pk) for pk in chains[p.pk]),
            repair=bare(p.pk).repair,
        )
        for p in profiles
    }


def profile_spec_get(*, profile: AgentProfile) -> ProfileSpec:
    return profile_specs_resolve([profile])[profile.pk]


def profile_list() -> QuerySet[AgentProfile]:
    """Profiles by name, with their ordered fallbacks and repair profile (no N+1 in the API)."""
    return (
        AgentProfile.objects.select_related("repair_profile")
        .prefetch_related(
            Prefetch(
                "fallback_links",
                queryset=ProfileFallback.objects.select_related("fallback").order_by("position"),
            )
        )
        .order_by("name")
    )


def profile_get(*, profile_id: int) -> AgentProfile:
    profile = profile_list().filter(pk=profile_id).first()
    if profile is None:
        raise NotFoundError(f"No agent profile {profile_id}.")
    return profile
