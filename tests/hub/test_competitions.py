"""The hub's competition pages: runs, one run (scores, curves, live progress), and the start form."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils.html import escape

from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, Provider, Role
from competition.models import CompetitionRun, RunStatus
from competition.services.runs import competition_run_create
from competition.services.traders import trader_profile_create
from tests.hub.conftest import END, START

pytestmark = pytest.mark.django_db

# session and user (2), traders for the form (2: exists + choices), symbols, latest bar date,
# default budget (settings, no query), runs count, runs, entries, scores
LIST_MAX_QUERIES = 10
# session and user (2), run, entries, scores, equity points, decisions count and page
DETAIL_MAX_QUERIES = 8


def _form(traders: list[str], **overrides: str) -> dict[str, object]:
    data: dict[str, object] = {
        "step": "estimate",
        "traders": traders,
        "symbols": "acme",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "budget_usd": "",
        "name": "",
    }
    data.update(overrides)
    return data


# --- list ---------------------------------------------------------------------------------------


def test_competitions_empty_state_says_what_to_do(arena, hub_client):
    html = hub_client.get("/hub/competitions/").content.decode()
    assert "No competitions yet." in html
    assert 'id="no-traders"' in html  # no trader: how to make one, not a useless form
    assert "run_competition" in html


def test_competitions_list_shows_progress_status_and_leader(finished_run, hub_client):
    response = hub_client.get("/hub/competitions/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="/hub/competitions/{finished_run.pk}/"' in html
    assert "status-completed" in html
    assert "10/10 days" in html
    [item] = response.context["runs"]
    assert item["leader"].entry.label == "steady"  # the best trader, not a baseline
    assert "Baseline: buy and hold" in html


def test_competitions_list_query_count_does_not_grow_with_runs(
    trader, hub_client, django_assert_max_num_queries
):
    for _ in range(23):
        competition_run_create(traders=[trader], symbols=["ACME"], start=START, end=END, enqueue=False)
    with django_assert_max_num_queries(LIST_MAX_QUERIES):
        response = hub_client.get("/hub/competitions/")
    assert len(response.context["runs"]) == 20
    assert "Page 1 of 2" in response.content.decode()
    assert len(hub_client.get("/hub/competitions/?page=2").context["runs"]) == 3


# --- one run ------------------------------------------------------------------------------------


def test_competition_page_shows_scores_intervals_marks_curves_and_decisions(
    finished_run, hub_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(DETAIL_MAX_QUERIES):
        response = hub_client.get(f"/hub/competitions/{finished_run.pk}/")
    html = response.content.decode()
    scores = response.context["scores"]
    assert [s.rank for s in scores] == [1, 2, 3]
    assert html.count('class="badge baseline"') == 2
    # 10 days of returns: every interval overlaps a baseline's, and the page says so
    assert html.count("≈ baseline</span>") == sum(1 for s in scores if not s.distinguishable)
    assert " to " in html  # the intervals
    # one chart, three lines (the trader and both baselines), with a legend naming each
    assert html.count('class="line series-') == 3
    for label in ("steady", "Baseline: buy and hold", "Baseline: random"):
        assert f">{escape(label)}</text>" in html
    # decisions link to their debates
    assert 'class="debate-link" href="/hub/debates/' in html
    assert "data-poll-json" not in html  # finished: nothing to poll


def test_queued_run_polls_its_json_twin_then_its_results(trader, hub_client):
    run = competition_run_create(traders=[trader], symbols=["ACME"], start=START, end=END, enqueue=False)
    html = hub_client.get(f"/hub/competitions/{run.pk}/").content.decode()
    assert f'data-poll-json="/api/admin/arena/competitions/{run.pk}"' in html
    assert f'data-poll-done-url="/hub/competitions/{run.pk}/live/"' in html
    assert "Waiting for a worker" in html
    assert "Scores are computed when the run completes" in html
    twin = hub_client.get(f"/api/admin/arena/competitions/{run.pk}").json()
    assert (twin["status"], twin["finished"], twin["days_done"]) == ("queued", False, 0)
    assert twin["hub_url"] == f"/hub/competitions/{run.pk}/"
    fragment = hub_client.get(f"/hub/competitions/{run.pk}/live/").content.decode()
    assert 'id="run-progress"' in fragment and "<html" not in fragment


def test_competition_json_twin_reports_a_finished_run(finished_run, hub_client, django_assert_num_queries):
    with django_assert_num_queries(3):  # session, user, run
        twin = hub_client.get(f"/api/admin/arena/competitions/{finished_run.pk}").json()
    assert twin["finished"] is True
    assert twin["progress"] == 1.0
    assert twin["days_done"] == twin["days_total"] == 10


def test_unknown_run_is_a_404_page_and_api_error(arena, hub_client):
    response = hub_client.get("/hub/competitions/999/")
    assert response.status_code == 404
    assert b"No competition run 999" in response.content
    api = hub_client.get("/api/admin/arena/competitions/999")
    assert api.status_code == 404
    assert api.json()["code"] == "not_found"


def test_failed_run_shows_its_error_escaped(trader, hub_client):
    run = competition_run_create(
        traders=[trader], symbols=["ACME"], start=START, end=END, enqueue=False, name="<b>bold</b>"
    )
    CompetitionRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, error="<script>alert(1)</script>"
    )
    html = hub_client.get(f"/hub/competitions/{run.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert escape("<script>alert(1)</script>") in html
    assert escape("<b>bold</b>") in html and "<b>bold</b>" not in html
    assert "ended without scores" in html
    listing = hub_client.get("/hub/competitions/").content.decode()
    assert "<b>bold</b>" not in listing


# --- the start form -------------------------------------------------------------------------------


def test_step_one_shows_the_estimate_and_the_verdict_without_creating(trader, hub_client):
    response = hub_client.post("/hub/competitions/", _form(["steady"]))
    html = response.content.decode()
    assert response.status_code == 200
    estimate = response.context["estimate"]
    assert estimate.estimate.debates == 10 - 1  # daily rebalancing, never on the last day
    assert estimate.within_budget
    assert 'id="estimate-cost"' in html and "$0.00" in html  # the rules panel costs nothing
    assert "within budget" in html
    assert 'name="step" value="confirm"' in html
    assert not CompetitionRun.objects.exists()


def test_step_two_creates_enqueues_and_runs_the_backtest(
    trader, hub_client, staff_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # tasks run inline in the tests
        response = hub_client.post(
            "/hub/competitions/", _form(["steady"], step="confirm", name="from the hub")
        )
    run = CompetitionRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/hub/competitions/{run.pk}/"
    assert (run.status, run.name, run.requested_by) == (RunStatus.COMPLETED, "from the hub", staff_user)
    assert run.symbols == ["ACME"]
    page = hub_client.get(response["Location"])
    assert f"Competition #{run.pk} queued" in page.content.decode()  # the message, once
    assert len(page.context["scores"]) == 3


@pytest.fixture
def unpriced_trader(db: None) -> str:
    panel = Panel.objects.create(name="unpriced", quorum=1)
    for role in (Role.BULL, Role.JUDGE):
        profile = AgentProfile.objects.create(
            name=f"local-{role}",
            role=role,
            provider=Provider.OPENAI_COMPATIBLE,
            model="my-local-model-7b",
            base_url="http://127.0.0.1:9/v1",
        )
        stage = PanelStage.JUDGE if role == Role.JUDGE else PanelStage.ANALYST
        PanelSeat.objects.create(panel=panel, stage=stage, role=role, profile=profile)
    return trader_profile_create(name="local", panel=panel).name


def test_budget_guard_refuses_an_unknown_estimate_until_confirmed(arena, unpriced_trader, hub_client):
    step1 = hub_client.post("/hub/competitions/", _form([unpriced_trader]))
    html = step1.content.decode()
    assert "refused" in html and "cannot be estimated" in html
    assert 'name="confirm_over_budget"' in html
    refused = hub_client.post("/hub/competitions/", _form([unpriced_trader], step="confirm"))
    assert refused.status_code == 200
    assert "Not started:" in refused.content.decode()
    assert refused.context["estimate"] is not None  # back to the estimate, to confirm
    assert not CompetitionRun.objects.exists()
    confirmed = hub_client.post(
        "/hub/competitions/", _form([unpriced_trader], step="confirm", confirm_over_budget="on")
    )
    assert confirmed.status_code == 302
    run = CompetitionRun.objects.get()
    assert run.confirmed and run.cost_estimate_usd is None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"symbols": "ZZZZ"}, "symbols", "Unknown symbol(s): ZZZZ."),
        ({"symbols": "<svg onload=x>"}, "symbols", "Letters, digits"),
        ({"symbols": ""}, "symbols", "This field is required."),
        ({"end": "2024-03-01"}, "end", "is before the start"),
        ({"start": "2024-03-15"}, "start", "a backtest needs 3"),
        ({"start": "yesterday"}, "start", "Enter a valid date."),
        ({"traders": ["nobody"]}, "traders", "Select a valid choice."),
        ({"traders": []}, "traders", "This field is required."),
        ({"budget_usd": "-1"}, "budget_usd", "greater than or equal to 0"),
    ],
)
def test_bad_input_is_shown_as_messages_and_nothing_starts(trader, hub_client, overrides, field, message):
    data = {**_form(["steady"], step="confirm"), **overrides}
    response = hub_client.post("/hub/competitions/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "The run was not started" in html
    assert any(message in e for e in response.context["form"].errors[field]), response.context["form"].errors
    assert "<svg onload=x>" not in html
    assert not CompetitionRun.objects.exists()


def test_a_symbol_outside_a_traders_universe_is_refused(arena, hub_client):
    trader_profile_create(name="acme-only", panel=arena, symbols=["ACME"])
    response = hub_client.post("/hub/competitions/", _form(["acme-only"], symbols="ACME, BOLT"))
    assert "does not trade BOLT" in response.content.decode()
    assert not CompetitionRun.objects.exists()


def test_an_inactive_trader_cannot_be_chosen(trader, hub_client):
    trader.active = False
    trader.save()
    response = hub_client.post("/hub/competitions/", _form(["steady"], step="confirm"))
    assert "traders" in response.context["form"].errors
    assert not CompetitionRun.objects.exists()


def test_form_proposes_a_small_recent_run(trader, hub_client):
    form = hub_client.get("/hub/competitions/").context["form"]
    start, end = form.initial["start"], form.initial["end"]
    assert end - start == dt.timedelta(days=7)
    assert form.initial["symbols"]
