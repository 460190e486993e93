"""Reads of profiles and panels."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Subquery

from agents.models import (
    ANALYST_ROLES,
    PANEL_POLICY_FIELDS,
    AgentProfile,
    ConfidenceMeasure,
    EscalationScope,
    Mode,
    Panel,
    PanelPlanVersion,
    PanelSeat,
    PanelStage,
    ProfileFallback,
    Role,
)
from agents.providers.base import ProfileSpec
from agents.validation import fallback_chain
from arena_project.errors import NotFoundError
from arena_project.kept import KeptByVersion


@dataclass(frozen=True)
class PanelPolicy:
    """A panel's escalation policy as plain data (the coordinator, replays and simulators use it).

    Field meanings are those of :class:`agents.models.Panel`; every switch defaults to off.
    """

    escalate_on_low_agreement: bool = False
    agreement_threshold: float = 0.6
    escalate_on_low_confidence: bool = False
    confidence_measure: str = ConfidenceMeasure.MEAN
    confidence_threshold: float = 0.5
    escalate_on_high_risk: bool = False
    escalate_on_quorum_shortfall: bool = False
    escalate_on_low_judge_confidence: bool = False
    judge_confidence_threshold: float = 0.3
    escalation_needs_all_triggers: bool = False
    escalation_scope: str = EscalationScope.DISSENTERS
    low_confidence_floor: float = 0.3
    escalation_switches_judge: bool = True

    @classmethod
    def from_panel(cls, panel: Panel) -> PanelPolicy:
        return cls(**{name: getattr(panel, name) for name in PANEL_POLICY_FIELDS})

    def replace(self, **changes: Any) -> PanelPolicy:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PanelPlan:
    """A panel resolved into immutable profile snapshots, ready for a debate.

    ``analysts`` and ``judge`` are the first round; an escalation-only profile never appears there,
    even if its mode changed after it was seated (``skipped`` says which seats were left out, why).
    """

    panel_id: int
    name: str
    analysts: dict[str, ProfileSpec]
    escalation: dict[str, ProfileSpec]
    judge: ProfileSpec | None
    escalation_judge: ProfileSpec | None
    call_timeout_s: float
    deadline_s: float
    quorum: int
    policy: PanelPolicy = field(default_factory=PanelPolicy)
    skipped: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> PanelPlan:
        return dataclasses.replace(self, **changes)


def panel_get(*, name: str | None = None) -> Panel:
    """The named panel, or the default one; NotFoundError when there is none."""
    qs = Panel.objects.all()
    panel = qs.filter(name=name).first() if name else qs.filter(is_default=True).first()
    if panel is None:
        what = f"Unknown panel {name!r}." if name else "No default panel: run `manage.py seed_demo`."
        raise NotFoundError(what, extra={"fields": {"panel": [what]}})
    return panel


def panel_plan_get(*, panel_id: int) -> PanelPlan:
    """The plan of panel ``panel_id``: one query for the panel and every seated profile."""
    seats = list(_seats(panel_id).select_related("panel"))
    panel = seats[0].panel if seats else Panel.objects.get(pk=panel_id)
    return _plan(panel, _seating(seats))


def panel_plan_build(*, panel: Panel, version: int | None = None) -> PanelPlan:
    """The plan of an already loaded panel: one query for its seats and their profiles (a second
    for the fallback graph only when a seated profile has an active fallback).

    With ``version``, the panel plans' version read with the panel (:func:`panel_plan_version`),
    the seats resolved under the same version before are reused: no query at all. The database
    changes the version on every write to seats, profiles or fallback links, so a change is seen
    by the next debate; the panel's own fields (name, limits, policy) always come from ``panel``.
    """
    if version is None:
        return _plan(panel, _seating(list(_seats(panel.pk))))
    seating = _SEATINGS.get(panel.pk, version)
    if seating is None:
        seating = _seating(list(_seats(panel.pk)))
        _SEATINGS.update(panel.pk, version, lambda _kept: seating)
    return _plan(panel, seating)


def panel_plan_version() -> Subquery:
    """The panel plans' version as an expression, to annotate the query that loads a debate's
    session and panel with it (``panel_plan_build(..., version=...)``): NULL when it has no row."""
    return Subquery(PanelPlanVersion.objects.filter(pk=1).values("version")[:1])


def _seats(panel_id: int) -> QuerySet[PanelSeat]:
    """A panel's seats with their profiles, each marked ``has_fallback`` when its profile has an
    active fallback. Unordered: ``_plan`` sorts them, and the model's default ordering (by the
    panel's name) would cost a join to the panel table for nothing."""
    active_fallback = ProfileFallback.objects.filter(profile_id=OuterRef("profile_id"), fallback__active=True)
    return (
        PanelSeat.objects.filter(panel_id=panel_id)
        .select_related("profile")
        .annotate(has_fallback=Exists(active_fallback))
        .order_by()
    )


@dataclass(frozen=True)
class _Seating:
    """What a panel's plan takes from its seats and profiles (not from the panel row)."""

    analysts: dict[str, ProfileSpec]
    escalation: dict[str, ProfileSpec]
    judge: ProfileSpec | None
    escalation_judge: ProfileSpec | None
    skipped: tuple[str, ...]


def _plan(panel: Panel, seating: _Seating) -> PanelPlan:
    return PanelPlan(
        panel_id=panel.pk,
        name=panel.name,
        analysts=dict(seating.analysts),
        escalation=dict(seating.escalation),
        judge=seating.judge,
        escalation_judge=seating.escalation_judge,
        call_timeout_s=panel.call_timeout_s,
        deadline_s=panel.deadline_s,
        quorum=panel.quorum,
        policy=PanelPolicy.from_panel(panel),
        skipped=seating.skipped,
    )


def _seating(seats: list[PanelSeat]) -> _Seating:
    """Resolve seats into profile snapshots.

    Inactive profiles are left out, and so is an escalation-only profile in a first-round seat
    (seat validation refuses that, but a profile's mode can change after it was seated).
    """
    by_stage: dict[str, dict[str, ProfileSpec]] = {stage: {} for stage in PanelStage.values}
    order = {role: i for i, role in enumerate((*ANALYST_ROLES, Role.JUDGE))}
    skipped: list[str] = []
    kept: list[PanelSeat] = []
    for seat in sorted(seats, key=lambda s: (order[s.role], s.stage)):  # the seats come unordered
        first_round = seat.stage in (PanelStage.ANALYST, PanelStage.JUDGE)
        if not seat.profile.active:
            skipped.append(f"{seat.stage}/{seat.role}: profile {seat.profile.name} is inactive")
        elif first_round and seat.profile.mode == Mode.ESCALATION_ONLY:
            skipped.append(f"{seat.stage}/{seat.role}: profile {seat.profile.name} is escalation-only")
        else:
            kept.append(seat)
    # A profile's chain starts with its own active fallbacks: with none on any seat every chain is
    # empty, and the fallback graph need not be read.
    graph = _fallback_graph() if any(getattr(s, "has_fallback", True) for s in kept) else {}
    specs = _specs_resolve([seat.profile for seat in kept], graph)
    first_round_specs = [
        specs[s.profile.pk] for s in kept if s.stage in (PanelStage.ANALYST, PanelStage.JUDGE)
    ]
    barred = _escalation_only_ids(first_round_specs)
    for seat in kept:
        spec = specs[seat.profile.pk]
        if seat.stage in (PanelStage.ANALYST, PanelStage.JUDGE) and barred:
            spec = _without(spec, barred)
        by_stage[seat.stage][seat.role] = spec
    return _Seating(
        analysts=by_stage[PanelStage.ANALYST],
        escalation=by_stage[PanelStage.ESCALATION],
        judge=next(iter(by_stage[PanelStage.JUDGE].values()), None),
        escalation_judge=next(iter(by_stage[PanelStage.ESCALATION_JUDGE].values()), None),
        skipped=tuple(skipped),
    )


#: Panels whose resolved seats a process keeps (a few KB each).
KEPT_PANELS = 256
_SEATINGS: KeptByVersion[int, _Seating] = KeptByVersion(lambda: KEPT_PANELS)


def panel_plans_forget() -> None:
    """Drop the seatings this process keeps (tests start from none; correctness never needs it)."""
    _SEATINGS.clear()


def _escalation_only_ids(specs: list[ProfileSpec]) -> set[int]:
    """Escalation-only profiles among the fallbacks and repair profiles of first-round seats (one
    query, and none at all when no seat has a fallback or a repair profile)."""
    linked = {f.id for spec in specs for f in spec.fallbacks} | {s.repair.id for s in specs if s.repair}
    if not linked:
        return set()
    return set(
        AgentProfile.objects.filter(pk__in=linked, mode=Mode.ESCALATION_ONLY).values_list("pk", flat=True)
    )


def _without(spec: ProfileSpec, barred: set[int]) -> ProfileSpec:
    """``spec`` with no escalation-only fallback or repair profile: the first round stays cheap."""
    return dataclasses.replace(
        spec,
        fallbacks=tuple(f for f in spec.fallbacks if f.id not in barred),
        repair=spec.repair if spec.repair is None or spec.repair.id not in barred else None,
    )


def panel_list() -> QuerySet[Panel]:
    """Panels by name with their seats and seated profiles (two queries in all)."""
    return Panel.objects.order_by("name", "id").prefetch_related(
        Prefetch("seats", queryset=PanelSeat.objects.select_related("profile").order_by("stage", "role"))
    )


def panel_by_id_get(*, panel_id: int) -> Panel:
    panel = panel_list().filter(pk=panel_id).first()
    if panel is None:
        raise NotFoundError(f"No panel {panel_id}.")
    return panel


def profile_specs_resolve(profiles: Iterable[AgentProfile]) -> dict[int, ProfileSpec]:
    """Snapshots of ``profiles`` with their fallback chains and repair profiles, in two queries.

    The chain is flattened depth first (a fallback's own fallbacks follow it), skips inactive
    profiles and never repeats one, so a chain is finite even if the graph were cyclic.
    """
    return _specs_resolve(list(profiles), _fallback_graph())


def _fallback_graph() -> dict[int, list[int]]:
    """Every profile's active fallbacks in order (one query)."""
    graph: dict[int, list[int]] = {}
    edges = ProfileFallback.objects.filter(fallback__active=True).order_by("profile_id", "position")
    for source, target in edges.values_list("profile_id", "fallback_id"):
        graph.setdefault(source, []).append(target)
    return graph


def _specs_resolve(profiles: list[AgentProfile], graph: dict[int, list[int]]) -> dict[int, ProfileSpec]:
    """:func:`profile_specs_resolve` over a fallback graph already read."""
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
