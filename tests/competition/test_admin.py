"""The admin shows every competition model; records are read-only; runs cancel; the leaderboard page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from competition.models import (
    CompetitionDecision,
    CompetitionEntry,
    CompetitionRun,
    CompetitionScore,
    EquityPoint,
    LeaderboardDaily,
    RunStatus,
)
from competition.services.rollup import leaderboard_rollup_refresh
from competition.services.runs import competition_run_create

from .conftest import END, START

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-root-123"))
    return client


MODELS = [
    "traderprofile",
    "competitionrun",
    "competitionentry",
    "competitiondecision",
    "equitypoint",
    "competitionscore",
    "leaderboarddaily",
    "leaderboardrollupstate",
]


def test_every_page_renders_after_a_run(traders, run_backtest, admin_client):
    run = run_backtest(traders=["steady"], end=START.replace(day=8))
    leaderboard_rollup_refresh()
    for model in MODELS:
        assert admin_client.get(f"/admin/competition/{model}/").status_code == 200, model
    assert admin_client.get(f"/admin/competition/competitionrun/{run.pk}/change/").status_code == 200
    entry = CompetitionEntry.objects.filter(run=run).first()
    assert admin_client.get(f"/admin/competition/competitionentry/{entry.pk}/change/").status_code == 200
    page = admin_client.get("/admin/competition/leaderboard/?window=all")
    assert page.status_code == 200 and b"rules-bull" in page.content
    assert admin_client.get("/admin/competition/leaderboard/?kind=traders&window=7d").status_code == 200
    assert admin_client.get(f"/admin/competition/traderprofile/{traders[0].pk}/change/").status_code == 200


@pytest.mark.parametrize(
    "model",
    [CompetitionRun, CompetitionEntry, CompetitionDecision, EquityPoint, CompetitionScore, LeaderboardDaily],
)
def test_records_cannot_be_added_in_the_admin(model, admin_client):
    assert admin_client.get(f"/admin/competition/{model._meta.model_name}/add/").status_code == 403


def test_cancel_action(traders, admin_client):
    run = competition_run_create(traders=["steady"], symbols=["ACME"], start=START, end=END, enqueue=False)
    response = admin_client.post(
        "/admin/competition/competitionrun/",
        {"action": "cancel_runs", "_selected_action": [run.pk]},
        follow=True,
    )
    run.refresh_from_db()
    assert response.status_code == 200 and run.status == RunStatus.CANCELLED


def test_trader_admin_validates_symbols_like_the_api(arena, admin_client):
    data = {
        "name": "admin-made",
        "panel": arena.pk,
        "symbols": '["acme", "ZZZZ"]',
        "starting_capital": "100000",
        "sizing_fraction": "0.1",
        "rebalance_frequency": "daily",
        "broker": "simulated",
        "slippage_bps": "5",
        "commission_bps": "0",
        "active": "on",
    }
    refused = admin_client.post("/admin/competition/traderprofile/add/", data)
    assert refused.status_code == 200 and b"Unknown symbol(s): ZZZZ" in refused.content
    accepted = admin_client.post("/admin/competition/traderprofile/add/", {**data, "symbols": '["acme"]'})
    assert accepted.status_code == 302
