"""The panel plan a debate runs on: its queries, its fallback chains, its deterministic order.

``panel_plan_build`` reads the fallback graph only when a seated profile has an active fallback; these
tests pin that the shortcut never changes the plan. Given the panel plans' version (read with a
debate's session), it reuses the seats it resolved under that version: the last tests pin that any
write to seats, profiles or fallbacks is seen by the next plan.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from agents.models import ANALYST_ROLES, AgentProfile, Panel, PanelSeat, PanelStage, ProfileFallback, Role
from agents.selectors import (
    PanelPlan,
    panel_plan_build,
    panel_plan_get,
    panel_plan_version,
    profile_specs_resolve,
)

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


# --- plans kept under the panel plans' version -------------------------------------------------------


def _version() -> int | None:
    return Panel.objects.annotate(v=panel_plan_version()).values_list("v", flat=True).first()


def _kept_plan(panel: Panel) -> PanelPlan:
    return panel_plan_build(panel=Panel.objects.get(pk=panel.pk), version=_version())


def test_a_plan_built_under_the_same_version_is_reused_without_a_query(
    arena: Panel, django_assert_num_queries
) -> None:
    version = _version()
    assert version is not None
    first = panel_plan_build(panel=arena, version=version)
    with django_assert_num_queries(0):
        again = panel_plan_build(panel=arena, version=version)
    assert again == first == panel_plan_build(panel=arena)
    again.analysts.clear()  # a caller's copy: the kept seats are not touched
    assert panel_plan_build(panel=arena, version=version) == first


def _deactivate(arena: Panel) -> None:
    AgentProfile.objects.filter(pk=_seated(arena, PanelStage.ANALYST, Role.BEAR).pk).update(active=False)


def _switch_mode(arena: Panel) -> None:
    bull = _seated(arena, PanelStage.ANALYST, Role.BULL)
    AgentProfile.objects.filter(pk=bull.pk).update(mode="escalation_only")


def _reseat(arena: Panel) -> None:
    seat = PanelSeat.objects.get(panel=arena, stage=PanelStage.ANALYST, role=Role.BULL)
    other = AgentProfile.objects.create(name="bull-other", role=Role.BULL, provider="rules", model="rules-v2")
    PanelSeat.objects.filter(pk=seat.pk).update(profile=other)


def _unseat(arena: Panel) -> None:
    PanelSeat.objects.filter(panel=arena, stage=PanelStage.ANALYST, role=Role.RISK_MANAGER).delete()


def _add_fallback(arena: Panel) -> None:
    _fallback_for(_seated(arena, PanelStage.ANALYST, Role.BULL), "bull-fallback")


def _change_params(arena: Panel) -> None:
    bull = _seated(arena, PanelStage.ANALYST, Role.BULL)
    AgentProfile.objects.filter(pk=bull.pk).update(params={"temperature": 0.5})


@pytest.mark.parametrize(
    "write", [_deactivate, _switch_mode, _reseat, _unseat, _add_fallback, _change_params]
)
def test_any_write_to_seats_profiles_or_fallbacks_is_seen_by_the_next_plan(arena: Panel, write) -> None:
    before = _kept_plan(arena)
    write(arena)
    after = _kept_plan(arena)
    assert after == panel_plan_build(panel=arena)  # what a fresh build gives
    assert after != before


def test_the_panels_own_fields_are_always_read_from_the_panel(arena: Panel) -> None:
    before = _kept_plan(arena)
    Panel.objects.filter(pk=arena.pk).update(quorum=2, escalate_on_low_agreement=True)  # no version change
    after = _kept_plan(arena)
    assert (after.quorum, after.policy.escalate_on_low_agreement) == (2, True)
    assert after.analysts == before.analysts


def test_a_rolled_back_write_leaves_no_plan_that_looks_current(arena: Panel) -> None:
    original = _kept_plan(arena)
    versions = [_version()]
    with pytest.raises(RuntimeError), transaction.atomic():
        _deactivate(arena)
        assert _kept_plan(arena) != original
        versions.append(_version())
        raise RuntimeError("roll it back")
    assert _kept_plan(arena) == original == panel_plan_build(panel=arena)
    _unseat(arena)
    versions.append(_version())
    assert len(set(versions)) == 3  # never the same version twice, rollbacks included


def test_a_debate_reads_its_plan_with_its_session_and_runs_on_the_current_seats(arena: Panel) -> None:
    from debates.services import debate_session_claim, debate_session_create, debate_session_run

    def debate() -> tuple[list[str], int]:
        session = debate_session_create(symbol="ACME", as_of=dt.date(2024, 3, 1), enqueue=False)
        debate_session_claim(session_id=session.pk)
        with CaptureQueriesContext(connection) as captured:
            done = debate_session_run(session_id=session.pk)
        roles = sorted(done.messages.filter(round=1).exclude(role=Role.JUDGE).values_list("role", flat=True))
        return roles, sum('"agents_panelseat"' in q["sql"] for q in captured)

    assert debate() == (sorted(ANALYST_ROLES), 1)
    assert debate() == (sorted(ANALYST_ROLES), 0)  # the plan is kept: no seats query
    _deactivate(arena)
    roles, seat_queries = debate()
    assert Role.BEAR not in roles and seat_queries == 1


@pytest.mark.django_db(transaction=True)
def test_a_profile_update_and_a_seat_written_at_the_same_time_never_deadlock(
    arena: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever writes seats holds the version row until they commit, and a seat's foreign keys are
    checked at the commit: an update that locked the seated profile FOR UPDATE and then waited for
    the version row would deadlock with it (it did, before ``profile_update`` locked FOR NO KEY
    UPDATE)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite serializes writers)")
    from agents import services

    seat = PanelSeat.objects.select_related("profile").get(
        panel=arena, stage=PanelStage.ANALYST, role=Role.BULL
    )
    locked, seat_written, errors = threading.Event(), threading.Event(), []
    real_apply = services._apply

    def waiting_apply(*args, **kwargs):  # type: ignore[no-untyped-def]
        locked.set()  # the profile's row is locked by now
        seat_written.wait(5)  # ... and the seat's transaction holds the version row
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(services, "_apply", waiting_apply)

    def update() -> None:
        try:
            services.profile_update(profile=seat.profile, description="updated")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=update)
    thread.start()
    assert locked.wait(5)
    with transaction.atomic():  # rewrite the seat: the version row is ours until the commit
        PanelSeat.objects.filter(pk=seat.pk).delete()
        PanelSeat.objects.create(panel=arena, stage=PanelStage.ANALYST, role=Role.BULL, profile=seat.profile)
        seat_written.set()
        time.sleep(0.3)  # the update writes now, and waits for the version row
    thread.join(10)
    assert not errors
    assert AgentProfile.objects.get(pk=seat.profile.pk).description == "updated"
