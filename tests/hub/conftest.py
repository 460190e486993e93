"""Fixtures of the hub tests: signed-in clients (staff and not), a trader and a finished backtest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from agents.models import Panel
from competition.models import CompetitionRun, TraderProfile
from competition.services.engine import competition_backtest_advance
from competition.services.runs import competition_run_claim, competition_run_create
from competition.services.traders import trader_profile_create


@pytest.fixture
def hub_client(staff_user: User) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def user_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _fresh_leaderboard_cache() -> None:
    """The leaderboard's answers and the rollup's watermark are cached per process; each test's
    database starts afresh, so must they."""
    from django.core.cache import cache

    from competition.services import rollup

    rollup._THROUGH_CACHE.clear()
    cache.clear()


START = dt.date(2024, 3, 4)
END = dt.date(2024, 3, 15)  # 10 trading days


@pytest.fixture
def trader(arena: Panel) -> TraderProfile:
    return trader_profile_create(name="steady", panel=arena, sizing_fraction=Decimal("0.2"))


@pytest.fixture
def finished_run(trader: TraderProfile) -> CompetitionRun:
    """A completed backtest of one rules trader (and the two baselines) on ACME, run in-process."""
    run = competition_run_create(
        traders=[trader], symbols=["ACME"], start=START, end=END, seed=7, name="small", enqueue=False
    )
    assert competition_run_claim(run_id=run.pk)
    competition_backtest_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    return run
