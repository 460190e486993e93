"""The demo's competition: three trader profiles (seeded idempotently) and a short backtest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from agents.models import Panel

from ..models import CompetitionRun, RebalanceFrequency, TraderProfile
from .engine import competition_backtest_advance
from .runs import competition_run_claim, competition_run_create
from .traders import trader_profile_create, trader_profile_update

# name, sizing fraction, rebalance frequency, max position notional, description
DEMO_TRADERS = [
    ("demo-steady", "0.10", RebalanceFrequency.DAILY, None, "Small orders every day."),
    ("demo-bold", "0.30", RebalanceFrequency.DAILY, "40000", "Large orders every day, capped per symbol."),
    ("demo-weekly", "0.20", RebalanceFrequency.WEEKLY, None, "Medium orders on the first day of each week."),
]
DEMO_SYMBOLS = ["ACME", "DUNE"]
DEMO_PERIOD = (dt.date(2024, 3, 1), dt.date(2024, 4, 12))


def demo_traders_seed(panel: Panel | None = None) -> list[TraderProfile]:
    """Create (or reset to their settings) the three demo traders on the default panel."""
    panel = panel or Panel.objects.get(is_default=True)
    traders = []
    for name, fraction, frequency, cap, description in DEMO_TRADERS:
        fields: dict[str, Any] = {
            "panel": panel,
            "sizing_fraction": Decimal(fraction),
            "rebalance_frequency": frequency,
            "max_position_notional": Decimal(cap) if cap else None,
            "description": description,
            "active": True,
        }
        existing = TraderProfile.objects.filter(name=name).first()
        traders.append(
            trader_profile_update(trader=existing, **fields)
            if existing
            else trader_profile_create(name=name, **fields)
        )
    return traders


def demo_competition_run() -> CompetitionRun:
    """Run the demo backtest in this process and return the finished run."""
    start, end = DEMO_PERIOD
    run = competition_run_create(
        traders=[name for name, *_ in DEMO_TRADERS],
        symbols=DEMO_SYMBOLS,
        start=start,
        end=end,
        seed=2024,
        name="demo",
        enqueue=False,
    )
    competition_run_claim(run_id=run.pk)
    competition_backtest_advance(run_id=run.pk)
    run.refresh_from_db()
    return run
