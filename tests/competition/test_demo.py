"""The demo's competition: three traders seeded idempotently, a short backtest, its score table."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from competition.models import CompetitionRun, RunStatus, TraderProfile
from competition.services.demo import DEMO_TRADERS

pytestmark = pytest.mark.django_db


def test_demo_runs_a_short_backtest_between_three_traders_and_prints_its_table(arena):
    out = StringIO()
    call_command("demo", "--debates", "0", stdout=out)
    call_command("demo", "--debates", "0", "--no-competition", stdout=StringIO())

    text = out.getvalue()
    run = CompetitionRun.objects.get()
    assert run.status == RunStatus.COMPLETED and run.name == "demo"
    assert sorted(TraderProfile.objects.values_list("name", flat=True)) == sorted(n for n, *_ in DEMO_TRADERS)
    assert [e.label for e in run.entries.order_by("id")][:3] == [n for n, *_ in DEMO_TRADERS]
    for label in ("demo-steady", "demo-bold", "demo-weekly", "Baseline: buy and hold", "Baseline: random"):
        assert label in text
    assert f"GET /api/competition/runs/{run.pk}" in text and "Leaderboard (agent profiles" in text
    assert run.scores.count() == 5


def test_demo_traders_are_reset_not_duplicated(arena):
    from competition.services.demo import demo_traders_seed

    first = demo_traders_seed()
    TraderProfile.objects.filter(name="demo-bold").update(sizing_fraction="0.9", active=False)
    second = demo_traders_seed()

    assert [t.pk for t in first] == [t.pk for t in second]
    bold = TraderProfile.objects.get(name="demo-bold")
    assert str(bold.sizing_fraction) == "0.3000" and bold.active
