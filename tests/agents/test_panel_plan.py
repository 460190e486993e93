"""The panel plan a debate runs on: its queries, its fallback chains, its deterministic order.

``panel_plan_build`` reads the fallback graph only when a seated profile has an active fallback; these
tests pin that the shortcut never changes the plan (nothing is cached: every call reads the rows).
"""

from __future__ import annotations

import pytest

from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, ProfileFallback, Role
from agents.selectors import panel_plan_build, panel_plan_get, profile_specs_resolve

pytestmark = pytest.mark.django_db


def _seated(panel: Panel, stage: str, role: str) -> AgentProfile:
    return PanelSeat.objects.select_related("profile").get(panel=panel, stage=stage, role=role).profile


def _fallback_for(profile: AgentProfile, name: str, *, active: bool = True) -> AgentProfile:
    fallback = AgentProfile.objects.create(
        name=name, role=profile.role, provider="rules", model="rules-v1", active=active
    )
    ProfileFallback.objects.create(profile=profile, fallback=fallback, position=1)
    return fallback


def test_panel_plan_build_reads_seats_in_one_query_without_fallbacks(
    arena: Panel, django_assert_num_queries
) -> None:
    assert not ProfileFallback.objects.exists()
    with django_assert_num_queries(1):
        plan = panel_plan_build(panel=arena)
    assert all(spec.fallbacks == () for spec in plan.analysts.values())


def test_panel_plan_build_resolves_a_seated_profiles_fallback_chain(
    arena: Panel, django_assert_num_queries
) -> None:
    bull = _seated(arena, PanelStage.ANALYST, Role.BULL)
    first = _fallback_for(bull, "bull-fallback-1")
    second = _fallback_for(first, "bull-fallback-2")  # a fallback's own fallback follows it
    # seats, the graph, the unseated fallback profiles, the escalation-only check of the fallbacks
    with django_assert_num_queries(4):
        plan = panel_plan_build(panel=arena)
    assert [f.id for f in plan.analysts[Role.BULL].fallbacks] == [first.pk, second.pk]
    assert plan == panel_plan_get(panel_id=arena.pk)
    assert plan.analysts[Role.BULL] == profile_specs_resolve([bull])[bull.pk]


def test_panel_plan_build_sees_a_fallback_deactivated_by_queryset_update(arena: Panel) -> None:
    bull = _seated(arena, PanelStage.ANALYST, Role.BULL)
    fallback = _fallback_for(bull, "bull-fallback")
    assert [f.id for f in panel_plan_build(panel=arena).analysts[Role.BULL].fallbacks] == [fallback.pk]
    AgentProfile.objects.filter(pk=fallback.pk).update(active=False)  # no signal, no save()
    assert panel_plan_build(panel=arena).analysts[Role.BULL].fallbacks == ()


def test_panel_plan_build_skips_the_graph_for_an_inactive_fallback(
    arena: Panel, django_assert_num_queries
) -> None:
    _fallback_for(_seated(arena, PanelStage.ANALYST, Role.BULL), "idle-fallback", active=False)
    with django_assert_num_queries(1):
        plan = panel_plan_build(panel=arena)
    assert plan.analysts[Role.BULL].fallbacks == ()


def test_panel_plan_skipped_seats_in_a_fixed_order(arena: Panel) -> None:
    """Seats come from the database unordered; the plan orders them by role, then stage."""
    AgentProfile.objects.filter(seats__panel=arena, seats__role=Role.BULL).update(active=False)
    skipped = panel_plan_build(panel=arena).skipped
    assert [s.split(":")[0] for s in skipped] == [
        f"{stage}/{Role.BULL}"
        for stage in sorted(
            PanelSeat.objects.filter(panel=arena, role=Role.BULL).values_list("stage", flat=True)
        )
    ]
    assert panel_plan_get(panel_id=arena.pk).skipped == skipped
