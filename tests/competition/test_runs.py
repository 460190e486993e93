"""Creating runs: validation, the cost estimate, the budget guard (before and during a run), cancel, API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django_q.models import Schedule

from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, Provider, Role
from competition.errors import BudgetExceededError, RunNotCancellableError
from competition.models import CompetitionEntry, CompetitionRun, EntryKind, RunStatus
from competition.services.engine import StepResult, competition_backtest_advance
from competition.services.estimates import competition_cost_estimate
from competition.services.runs import competition_run_cancel, competition_run_claim, competition_run_create
from competition.services.traders import trader_profile_create
from debates.models import DebateMessage, DebateSession, LlmCall
from outcomes.models import TradingAccount

from .conftest import END, START

pytestmark = pytest.mark.django_db


def _create(**kwargs):
    params = {"traders": ["steady"], "symbols": ["ACME"], "start": START, "end": END, "enqueue": False}
    params.update(kwargs)
    return competition_run_create(**params)


def _field_errors(exc_info) -> dict:
    return exc_info.value.message_dict


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"traders": ["steady", "nobody"]}, "traders", "Unknown trader(s): nobody"),
        ({"traders": []}, "traders", "at least one"),
        ({"traders": ["steady", "steady"]}, "traders", "named twice"),
        ({"symbols": ["ACME", "ZZZZ"]}, "symbols", "Unknown symbol(s): ZZZZ"),
        ({"symbols": []}, "symbols", "at least one"),
        ({"start": dt.date(2024, 3, 22), "end": dt.date(2024, 3, 4)}, "end", "before the start"),
        ({"start": dt.date(2030, 1, 1), "end": dt.date(2030, 2, 1)}, "start", "a backtest needs 3"),
        ({"start": None}, "start", "needs a start"),
        ({"mode": "live"}, "mode", "Unknown mode"),
    ],
)
def test_run_create_refuses_bad_input_naming_the_field(traders, kwargs, field, text):
    with pytest.raises(ValidationError) as exc_info:
        _create(**kwargs)
    assert text in " ".join(_field_errors(exc_info)[field])
    assert (
        not CompetitionRun.objects.exists()
        and not TradingAccount.objects.filter(name__startswith="competition-").exists()
    )


def test_run_create_refuses_a_symbol_outside_a_traders_universe(arena, traders):
    trader_profile_create(name="acme-only", panel=arena, symbols=["acme"])
    with pytest.raises(ValidationError) as exc_info:
        _create(traders=["acme-only"], symbols=["ACME", "BOLT"])
    assert "does not trade BOLT" in _field_errors(exc_info)["symbols"][0]


def test_run_create_refuses_inactive_traders(traders):
    traders[0].active = False
    traders[0].save()
    with pytest.raises(ValidationError, match="Inactive"):
        _create()


def test_run_create_gives_every_entry_its_own_fresh_account(traders):
    run = _create(traders=["steady", "bold"], symbols=["acme", "BOLT"])

    entries = list(run.entries.select_related("account", "trader").order_by("id"))
    assert [e.kind for e in entries] == [
        EntryKind.TRADER,
        EntryKind.TRADER,
        EntryKind.BUY_AND_HOLD,
        EntryKind.RANDOM,
    ]
    assert run.symbols == ["ACME", "BOLT"]
    assert len({e.account_id for e in entries}) == 4
    bold = entries[1].account
    assert (bold.sizing_fraction, bold.cash, bold.allowed_symbols) == (
        Decimal("0.3000"),
        bold.starting_cash,
        ["ACME", "BOLT"],
    )
    assert all(e.account.broker == "simulated" for e in entries)  # a backtest is always simulated


# --- cost estimate and budget guard ------------------------------------------------------------------


def test_estimate_on_the_rules_panel_matches_the_actual_run(traders, run_backtest):
    estimate = competition_cost_estimate(traders=traders[:2], symbols=["ACME", "BOLT"], start=START, end=END)
    run = run_backtest(traders=["steady", "bold"], symbols=["ACME", "BOLT"])

    sessions = DebateSession.objects.filter(competition_decision__entry__run=run)
    assert estimate.cost_usd == Decimal(0) == run.cost_estimate_usd == run.cost_usd
    assert estimate.debates == sessions.count() == 2 * 2 * (run.days_total - 1)
    calls = LlmCall.objects.filter(session__in=sessions)
    assert calls.aggregate(total=Sum("cost_usd"))["total"] == Decimal(0)
    # no escalation history yet: the estimate assumes every debate escalates (an upper bound)
    first_round = PanelSeat.objects.filter(
        panel=traders[0].panel, stage__in=[PanelStage.ANALYST, PanelStage.JUDGE]
    ).count()
    messages = DebateMessage.objects.filter(session__in=sessions).count()
    assert estimate.debates * first_round <= messages <= estimate.calls
    assert calls.count() == messages


def test_estimate_prices_a_priced_panel_from_the_price_database(arena, priced_panel):
    trader = trader_profile_create(name="gpt", panel=priced_panel)
    estimate = competition_cost_estimate(traders=[trader], symbols=["ACME"], start=START, end=END)

    assert estimate.debates == 14
    seat = estimate.traders[0].seats[0]
    assert seat.source == "prices"
    # gpt-4o-mini: $0.15 / M in, $0.60 / M out; 6000 in + 2048 out per call, 4 seats, 14 debates
    per_call = (Decimal(6000) * Decimal("0.15") + Decimal(2048) * Decimal("0.6")) / Decimal(1_000_000)
    assert estimate.cost_usd == pytest.approx(per_call * 4 * 14, rel=Decimal("0.0001"))


def test_budget_guard_refuses_a_run_over_budget_unless_confirmed(arena, priced_panel):
    trader_profile_create(name="gpt", panel=priced_panel)

    with pytest.raises(BudgetExceededError) as exc_info:
        _create(traders=["gpt"], budget_usd=Decimal("0.01"))
    assert exc_info.value.http_status == 409
    assert Decimal(exc_info.value.extra["cost_estimate_usd"]) > Decimal("0.01")
    assert not CompetitionRun.objects.exists()

    run = _create(traders=["gpt"], budget_usd=Decimal("0.01"), confirm=True)
    assert run.confirmed and run.cost_estimate_usd > run.budget_usd
    assert _create(traders=["gpt"], budget_usd=Decimal("1.00")).cost_estimate_usd < Decimal("1.00")


def test_budget_guard_refuses_an_estimate_it_cannot_make(arena, unpriced_panel):
    trader_profile_create(name="local", panel=unpriced_panel)

    with pytest.raises(BudgetExceededError, match="cannot be estimated") as exc_info:
        _create(traders=["local"], budget_usd=Decimal("100"))
    assert exc_info.value.extra["unknown_profiles"] == ["local-bull", "local-judge"]
    assert _create(traders=["local"], budget_usd=None, use_default_budget=False).cost_estimate_usd is None


def test_budget_default_comes_from_the_settings(traders, settings):
    settings.ARENA_COMPETITION_DEFAULT_BUDGET_USD = "2.50"
    assert _create().budget_usd == Decimal("2.50")
    settings.ARENA_COMPETITION_DEFAULT_BUDGET_USD = ""
    assert _create().budget_usd is None


@pytest.fixture
def fake_llm_panel(fake_llm, monkeypatch) -> Panel:
    """OpenAI-compatible profiles on the local fake server, priced by override ($1 / $2 per M tokens)."""
    panel = Panel.objects.create(name="fake-llm", quorum=2)
    for role in (Role.BULL, Role.BEAR, Role.JUDGE):
        profile = AgentProfile(
            name=f"fake-{role}",
            role=role,
            provider=Provider.OPENAI_COMPATIBLE,
            model="fake-model",
            base_url=fake_llm.openai_base_url,
            price_input_per_mtok=Decimal(1),
            price_output_per_mtok=Decimal(2),
            params={"max_retries": 0, "max_tokens": 400},
        )
        profile.full_clean()
        profile.save()
        stage = PanelStage.JUDGE if role == Role.JUDGE else PanelStage.ANALYST
        PanelSeat.objects.create(panel=panel, stage=stage, role=role, profile=profile)
    return panel


def test_priced_run_spends_no_more_than_its_estimate(arena, fake_llm_panel, run_backtest):
    trader_profile_create(name="llm", panel=fake_llm_panel)

    run = run_backtest(traders=["llm"], end=dt.date(2024, 3, 7), budget_usd=Decimal("1"))

    calls = LlmCall.objects.filter(session__competition_decision__entry__run=run)
    assert run.status == RunStatus.COMPLETED
    assert calls.count() == 3 * 3  # three debates (four days, none on the last), three seats each
    spent = calls.aggregate(total=Sum("cost_usd"))["total"]
    assert Decimal(0) < spent == run.cost_usd <= run.cost_estimate_usd
    assert run.scores.get(entry__kind=EntryKind.TRADER).llm_cost_usd == spent.quantize(Decimal("0.000001"))


def test_an_unconfirmed_run_stops_when_its_spend_passes_the_budget(arena, fake_llm_panel):
    trader_profile_create(name="llm", panel=fake_llm_panel)
    run = _create(traders=["llm"], end=dt.date(2024, 3, 8), budget_usd=Decimal("1"))
    CompetitionRun.objects.filter(pk=run.pk).update(
        budget_usd=Decimal("0.000001")
    )  # the budget was cut meanwhile
    competition_run_claim(run_id=run.pk)

    assert competition_backtest_advance(run_id=run.pk) == StepResult.STOPPED

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "budget" in run.error
    assert run.days_done == 1  # stopped after the first day's debates


# --- cancel --------------------------------------------------------------------------------------------


def test_cancel_a_queued_run_and_refuse_to_cancel_it_twice(traders):
    run = _create()
    assert competition_run_cancel(run=run).status == RunStatus.CANCELLED
    with pytest.raises(RunNotCancellableError):
        competition_run_cancel(run=run)
    assert not competition_run_claim(run_id=run.pk)


# --- API -----------------------------------------------------------------------------------------------


def test_post_run_is_accepted_runs_through_django_q_and_shows_scores(
    traders, staff_client, django_capture_on_commit_callbacks
):
    body = {
        "traders": ["steady", "weekly"],
        "symbols": ["acme"],
        "start": "2024-03-04",
        "end": "2024-03-15",
        "seed": 5,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/api/competition/runs", body, format="json")

    assert response.status_code == 202, response.content
    assert response["Location"] == response.json()["url"]
    detail = staff_client.get(response.json()["url"]).json()
    assert detail["status"] == "completed"
    assert [s["rank"] for s in detail["scores"]] == [1, 2, 3, 4]
    score = detail["scores"][0]
    assert set(score["total_return"]) == {"value", "low", "high", "n"} and score["total_return"]["n"] == 9
    assert score["rank_label"].startswith("1")
    assert len(detail["equity_curves"]) == 4
    assert [p["date"] for p in detail["equity_curves"][0]["points"]][:2] == ["2024-03-04", "2024-03-05"]
    assert detail["cost_estimate"]["debates"] == 9 + 2
    listed = staff_client.get("/api/competition/runs/?status=completed").json()
    assert [r["id"] for r in listed["results"]] == [detail["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"traders": ["steady"], "symbols": ["ACME"], "start": "2024-03-22", "end": "2024-03-04"}, "end"),
        ({"traders": ["steady"], "symbols": ["ACME"], "start": "2024-03-04"}, "end"),
        ({"traders": ["steady"], "symbols": ["ACME"], "start": "2024-13-01", "end": "2024-03-04"}, "start"),
        ({"traders": ["ghost"], "symbols": ["ACME"], "start": "2024-03-04", "end": "2024-03-22"}, "traders"),
        ({"traders": ["steady"], "symbols": ["NOPE"], "start": "2024-03-04", "end": "2024-03-22"}, "symbols"),
        (
            {"traders": ["steady"], "symbols": ["ACME"], "start": "2024-03-04", "end": "2024-03-22", "x": 1},
            "x",
        ),
        ({"traders": "steady", "symbols": ["ACME"], "start": "2024-03-04", "end": "2024-03-22"}, "traders"),
        ({"traders": ["steady"], "symbols": ["ACME"], "mode": "paper"}, "tick_minutes"),
        (
            {
                "traders": ["steady"],
                "symbols": ["ACME"],
                "start": "2024-03-04",
                "end": "2024-03-22",
                "budget_usd": -1,
            },
            "budget_usd",
        ),
    ],
)
def test_post_run_bad_input_is_a_400_naming_the_field(traders, staff_client, body, field):
    response = staff_client.post("/api/competition/runs", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["extra"]["fields"]
    assert not CompetitionRun.objects.exists()


def test_post_run_over_budget_is_a_409_with_the_estimate(arena, priced_panel, staff_client):
    trader_profile_create(name="gpt", panel=priced_panel)
    body = {
        "traders": ["gpt"],
        "symbols": ["ACME"],
        "start": "2024-03-04",
        "end": "2024-03-22",
        "budget_usd": "0.01",
    }

    refused = staff_client.post("/api/competition/runs", body, format="json")
    accepted = staff_client.post("/api/competition/runs", {**body, "confirm": True}, format="json")

    assert refused.status_code == 409 and refused.json()["code"] == "budget_exceeded"
    assert Decimal(refused.json()["extra"]["cost_estimate_usd"]) > Decimal("0.01")
    assert accepted.status_code == 202 and accepted.json()["confirmed"] is True


def test_cancel_endpoint(traders, staff_client, api_client):
    run = _create()
    assert api_client.post(f"/api/competition/runs/{run.pk}/cancel").status_code == 403
    first = staff_client.post(f"/api/competition/runs/{run.pk}/cancel/")
    second = staff_client.post(f"/api/competition/runs/{run.pk}/cancel")
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    assert second.status_code == 409 and second.json()["code"] == "run_not_cancellable"
    assert staff_client.post("/api/competition/runs/999999/cancel").status_code == 404


def test_runs_are_readable_by_users_but_only_staff_start_them(traders, api_client, anon_client):
    run = _create()
    body = {"traders": ["steady"], "symbols": ["ACME"], "start": "2024-03-04", "end": "2024-03-22"}
    assert anon_client.get("/api/competition/runs").status_code == 401
    assert api_client.get(f"/api/competition/runs/{run.pk}").status_code == 200
    assert api_client.post("/api/competition/runs", body, format="json").status_code == 403
    assert api_client.get("/api/competition/runs/424242").status_code == 404
    assert api_client.get("/api/competition/runs?status=bogus").status_code == 400


# --- paper --------------------------------------------------------------------------------------------


def test_paper_run_is_a_schedule_that_ticks_once_per_new_bar(traders, django_capture_on_commit_callbacks):
    from competition.services.paper import competition_paper_advance

    with django_capture_on_commit_callbacks(execute=True):
        run = competition_run_create(traders=["steady"], symbols=["ACME"], mode="paper", tick_minutes=60)
    schedule = Schedule.objects.get(name=f"competition-paper-{run.pk}")
    assert (schedule.func, schedule.minutes) == ("competition.tasks.competition_paper_tick", 60)

    first = competition_paper_advance(run_id=run.pk)
    second = competition_paper_advance(run_id=run.pk)

    run.refresh_from_db()
    assert first == "ticked 2025-12-31" and second == "no new bar"
    assert run.status == RunStatus.RUNNING and run.last_date == dt.date(2025, 12, 31)
    entries = CompetitionEntry.objects.filter(run=run).annotate(points=Count("equity_points"))
    assert all(e.points == 1 for e in entries)
    assert run.entries.get(kind=EntryKind.TRADER).decision_rows.get().session.as_of == dt.date(2025, 12, 31)
    competition_run_cancel(run=run)
    assert not Schedule.objects.filter(name=f"competition-paper-{run.pk}").exists()
