"""The staff panels API: CRUD with seats, policy validation with field messages, staff only."""

from __future__ import annotations

import datetime as dt

import pytest

from agents.models import AgentProfile, Panel, PanelSeat
from debates.services import debate_run_now

pytestmark = pytest.mark.django_db
URL = "/api/admin/arena/panels"


def profile_id(name: str) -> int:
    return AgentProfile.objects.get(name=name).pk


def rules_seats(*, escalation: bool = True) -> list[dict]:
    seats = [
        {"stage": "analyst", "role": role, "profile": profile_id(f"rules-{role.replace('_', '-')}")}
        for role in ("bull", "bear", "risk_manager", "technical_analyst", "fundamental_analyst")
    ]
    seats.append({"stage": "judge", "role": "judge", "profile": profile_id("rules-judge")})
    if escalation:
        seats += [
            {
                "stage": "escalation",
                "role": role,
                "profile": profile_id(f"rules-{role.replace('_', '-')}-deep"),
            }
            for role in ("bull", "bear")
        ]
        seats.append(
            {"stage": "escalation_judge", "role": "judge", "profile": profile_id("rules-judge-deep")}
        )
    return seats


def payload(**changes) -> dict:
    return {
        "name": "escalating",
        "quorum": 3,
        "escalate_on_low_agreement": True,
        "agreement_threshold": 0.7,
        "escalation_scope": "dissenters",
        "seats": rules_seats(),
        **changes,
    }


def test_panels_are_staff_only(arena, anon_client, api_client):
    assert anon_client.get(URL).status_code == 401
    assert api_client.get(URL).status_code == 403
    assert api_client.post(URL, payload(), format="json").status_code == 403
    assert not Panel.objects.filter(name="escalating").exists()


def test_create_read_update_delete(arena, staff_client):
    created = staff_client.post(URL, payload(), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert created["Location"] == body["url"] == f"{URL}/{body['id']}"
    assert body["escalates"] and body["agreement_threshold"] == 0.7 and len(body["seats"]) == 9
    seat = next(s for s in body["seats"] if s["stage"] == "escalation" and s["role"] == "bear")
    assert (seat["profile_name"], seat["tier"], seat["mode"]) == (
        "rules-bear-deep",
        "powerful",
        "escalation_only",
    )

    assert staff_client.get(f"{URL}/").json()["count"] == 2
    assert staff_client.get(body["url"]).json()["name"] == "escalating"

    patched = staff_client.patch(
        body["url"], {"escalate_on_high_risk": True, "escalation_scope": "panel"}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["escalate_on_high_risk"] and len(patched.json()["seats"]) == 9
    assert not patched.json()["escalation_needs_all_triggers"]  # any trigger escalates by default
    combined = staff_client.patch(body["url"], {"escalation_needs_all_triggers": True}, format="json")
    assert combined.status_code == 200 and combined.json()["escalation_needs_all_triggers"]

    replaced = staff_client.put(
        body["url"] + "/",
        payload(
            name="renamed",
            escalation_switches_judge=False,
            seats=rules_seats(escalation=False)[:4] + rules_seats()[5:6] + rules_seats()[6:8],
        ),
        format="json",
    )
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["name"] == "renamed"
    assert {(s["stage"], s["role"]) for s in replaced.json()["seats"]} == {
        ("analyst", "bull"),
        ("analyst", "bear"),
        ("analyst", "risk_manager"),
        ("analyst", "technical_analyst"),
        ("judge", "judge"),
        ("escalation", "bull"),
        ("escalation", "bear"),
    }
    assert staff_client.delete(body["url"]).status_code == 204
    assert staff_client.get(body["url"]).status_code == 404


def test_a_panel_with_debates_cannot_be_deleted(arena, staff_client):
    debate_run_now(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    response = staff_client.delete(f"{URL}/{arena.pk}")
    assert response.status_code == 409 and "part of their record" in response.json()["message"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"agreement_threshold": 1.5}, "agreement_threshold", "less than or equal to 1"),
        ({"escalation_scope": "everyone"}, "escalation_scope", "not a valid choice"),
        ({"quorum": 0}, "quorum", "greater than or equal to 1"),
        ({"colour": "blue"}, "colour", "Unknown field."),
        ({"call_timeout_s": 30, "deadline_s": 10}, "deadline_s", "at least the per-call timeout"),
        ({"deadline_s": 300}, "deadline_s", "task timeout"),
        ({"seats": [{"stage": "analyst", "role": "bull", "profile": 999999}]}, "seats", "Invalid pk"),
        ({"seats": [{"stage": "analyst", "role": "bull"}]}, "seats", "required"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(arena, staff_client, changes, field, message):
    response = staff_client.post(URL, payload(**changes), format="json")
    assert response.status_code == 400, response.content
    fields = response.json()["extra"]["fields"]
    assert field in fields and message in str(fields[field])
    assert not Panel.objects.filter(name="escalating").exists()


def test_seat_and_policy_rules_are_enforced(arena, staff_client):
    deep_bull = profile_id("rules-bull-deep")
    bad_seat = payload(seats=[*rules_seats(), {"stage": "analyst", "role": "bull", "profile": deep_bull}])
    fields = staff_client.post(URL, bad_seat, format="json").json()["extra"]["fields"]
    assert "more than one seat" in str(fields["seats"]) and "escalation-only" in str(fields["seats"])

    wrong_role = payload(seats=[{**rules_seats()[0], "role": "bear"}, *rules_seats()[1:]])
    assert "plays bull, not bear" in str(staff_client.post(URL, wrong_role, format="json").json())

    too_few = payload(quorum=5, seats=rules_seats()[:3] + rules_seats()[5:])
    assert "could never reach it" in str(
        staff_client.post(URL, too_few, format="json").json()["extra"]["fields"]["quorum"]
    )

    no_escalation_judge = payload(seats=[s for s in rules_seats() if s["stage"] != "escalation_judge"])
    fields = staff_client.post(URL, no_escalation_judge, format="json").json()["extra"]["fields"]
    assert "needs an escalation judge seat" in str(fields["escalation_switches_judge"])

    nothing_to_do = payload(escalation_scope="none", escalation_switches_judge=False)
    fields = staff_client.post(URL, nothing_to_do, format="json").json()["extra"]["fields"]
    assert "would change nothing" in str(fields["escalation_scope"])

    assert not Panel.objects.filter(name="escalating").exists()
    # triggers off: no escalation seats needed
    plain = payload(escalate_on_low_agreement=False, seats=rules_seats(escalation=False))
    assert staff_client.post(URL, plain, format="json").status_code == 201


def test_default_flag_moves_and_names_are_unique(arena, staff_client):
    body = staff_client.post(URL, payload(is_default=True), format="json").json()
    assert body["is_default"]
    arena.refresh_from_db()
    assert not arena.is_default
    duplicate = staff_client.post(URL, payload(), format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()["extra"]["fields"]


def test_patch_validates_the_whole_new_state(arena, staff_client):
    body = staff_client.post(
        URL, payload(escalate_on_low_agreement=False, seats=rules_seats(escalation=False)), format="json"
    ).json()
    response = staff_client.patch(body["url"], {"escalate_on_high_risk": True}, format="json")
    assert response.status_code == 400  # now escalating, but the panel has no escalation seats
    assert not Panel.objects.get(pk=body["id"]).escalate_on_high_risk
    assert staff_client.patch(f"{URL}/999999", {}, format="json").status_code == 404


def test_admin_edits_the_policy_and_validates_seats(arena, staff_user, client):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    page = client.get(f"/admin/agents/panel/{arena.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for field in (
        "escalate_on_low_agreement",
        "agreement_threshold",
        "escalation_scope",
        "escalation_switches_judge",
    ):
        assert f'name="{field}"' in html

    seats = list(PanelSeat.objects.filter(panel=arena).order_by("id"))
    form = {
        "name": arena.name,
        "description": arena.description,
        "is_default": "on",
        "call_timeout_s": "30",
        "deadline_s": "120",
        "quorum": "3",
        "escalate_on_low_agreement": "on",
        "agreement_threshold": "0.55",
        "confidence_measure": "mean",
        "confidence_threshold": "0.5",
        "judge_confidence_threshold": "0.3",
        "escalation_scope": "dissenters",
        "low_confidence_floor": "0.3",
        "escalation_switches_judge": "on",
        "seats-TOTAL_FORMS": str(len(seats)),
        "seats-INITIAL_FORMS": str(len(seats)),
        "seats-MIN_NUM_FORMS": "0",
        "seats-MAX_NUM_FORMS": "1000",
    }
    for i, seat in enumerate(seats):
        form.update(
            {
                f"seats-{i}-id": str(seat.pk),
                f"seats-{i}-panel": str(arena.pk),
                f"seats-{i}-stage": seat.stage,
                f"seats-{i}-role": seat.role,
                f"seats-{i}-profile": str(seat.profile_id),
            }
        )
    saved = client.post(f"/admin/agents/panel/{arena.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    arena.refresh_from_db()
    assert arena.escalate_on_low_agreement and arena.agreement_threshold == 0.55

    # drop the escalation judge while the judge switch is on: refused, nothing saved
    judge_index = next(i for i, s in enumerate(seats) if s.stage == "escalation_judge")
    refused = client.post(
        f"/admin/agents/panel/{arena.pk}/change/",
        {**form, "agreement_threshold": "0.9", f"seats-{judge_index}-DELETE": "on"},
    )
    assert refused.status_code == 200
    assert "needs an escalation judge seat" in refused.content.decode()
    arena.refresh_from_db()
    assert arena.agreement_threshold == 0.55


def test_the_staged_scope_is_a_choice_that_needs_escalation_seats(arena, staff_client):
    created = staff_client.post(URL, payload(escalation_scope="staged"), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["escalation_scope"] == "staged"
    assert Panel.objects.get(name="escalating").escalation_scope == "staged"

    no_seats = payload(
        name="staged-without-seats",
        escalation_scope="staged",
        escalation_switches_judge=False,
        seats=rules_seats(escalation=False),
    )
    response = staff_client.post(URL, no_seats, format="json")
    assert response.status_code == 400
    assert "has no escalation seats" in str(response.json()["extra"]["fields"]["escalation_scope"])
