"""Fixtures of the competition tests: trader profiles, a priced panel, and a quick backtest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest

from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, Provider, Role, Tier
from competition.models import CompetitionRun, TraderProfile
from competition.services.engine import competition_backtest_advance
from competition.services.runs import competition_run_claim, competition_run_create
from competition.services.traders import trader_profile_create

START = dt.date(2024, 3, 4)
END = dt.date(2024, 3, 22)  # 15 trading days


@pytest.fixture(autouse=True)
def _fresh_rollup_cache() -> None:
    """The rollup's "complete through" and leaderboard answers are cached per process; each test's
    database starts afresh."""
    from django.core.cache import cache

    from competition.services import rollup

    rollup._THROUGH_CACHE.clear()
    cache.clear()


@pytest.fixture
def traders(arena: Panel) -> list[TraderProfile]:
    return [
        trader_profile_create(name="steady", panel=arena, sizing_fraction=Decimal("0.10")),
        trader_profile_create(name="bold", panel=arena, sizing_fraction=Decimal("0.30")),
        trader_profile_create(
            name="weekly", panel=arena, sizing_fraction=Decimal("0.20"), rebalance_frequency="weekly"
        ),
    ]


@pytest.fixture
def priced_panel(db: None) -> Panel:
    """A panel of OpenAI profiles the price database knows (never called in these tests)."""
    panel = Panel.objects.create(name="priced", quorum=3)
    for role in (Role.BULL, Role.BEAR, Role.TECHNICAL_ANALYST, Role.JUDGE):
        profile = AgentProfile.objects.create(
            name=f"gpt-{role}", role=role, provider=Provider.OPENAI, model="gpt-4o-mini", tier=Tier.CHEAP
        )
        stage = PanelStage.JUDGE if role == Role.JUDGE else PanelStage.ANALYST
        PanelSeat.objects.create(panel=panel, stage=stage, role=role, profile=profile)
    return panel


@pytest.fixture
def unpriced_panel(db: None) -> Panel:
    """A panel whose model no price database knows and that has no price override."""
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
    return panel


@pytest.fixture
def run_backtest() -> Callable[..., CompetitionRun]:
    """Create, claim and run a backtest in-process; returns the finished run."""

    def run(**kwargs: object) -> CompetitionRun:
        params: dict[str, object] = {
            "symbols": ["ACME"],
            "start": START,
            "end": END,
            "seed": 7,
            "enqueue": False,
        }
        params.update(kwargs)
        created = competition_run_create(**params)  # type: ignore[arg-type]
        assert competition_run_claim(run_id=created.pk)
        competition_backtest_advance(run_id=created.pk)
        created.refresh_from_db()
        return created

    return run
