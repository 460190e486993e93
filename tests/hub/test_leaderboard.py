"""The hub's leaderboard: the competition selector's rankings, filters, sorting, marks and charts."""

from __future__ import annotations

import pytest
from django.utils.html import escape

from arena_project.hub import views
from arena_project.hub.leaderboard import leaderboard_columns

pytestmark = pytest.mark.django_db

# session and user (2); the selector on raw tables, the rollup being empty in a test (rollup
# watermark, four families of sums, the baseline, profile names: at most 7); the activity table (2)
MAX_QUERIES = 11


@pytest.fixture(autouse=True)
def _no_answer_cache(settings) -> None:
    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0


def test_rankings_show_rates_intervals_marks_and_charts(
    finished_run, hub_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(MAX_QUERIES):
        response = hub_client.get("/hub/leaderboard/?window=all")
    html = response.content.decode()
    rows = list(response.context["page"].object_list)
    assert len(rows) == 6  # the rules panel's six profiles
    assert [r.rank for r in rows] == list(range(1, 7))
    ranked = [r for r in rows if r.hit_rate.n]
    assert ranked, "settled directional calls give hit rates"
    assert " to " in html and "n=" in html  # intervals with their n
    marked = sum(1 for r in rows if r.not_distinguishable_from_baseline)
    assert html.count('title="Its hit-rate interval overlaps') == marked
    assert 'id="baseline-line"' in html
    assert html.count('class="chart chart-scatter"') == 2  # cost vs hit rate, calibration
    assert 'class="reference"' in html  # the calibration chart's y = x
    assert 'id="chart-cost-alpha"' in html


def test_sorting_by_a_column_orders_rows_and_marks_the_header(finished_run, hub_client):
    response = hub_client.get("/hub/leaderboard/?window=all&sort=name")
    names = [r.name for r in response.context["page"].object_list]
    assert names == sorted(names)
    html = response.content.decode()
    assert 'aria-sort="ascending"' in html
    assert "sort=-name" in html  # clicking again reverses
    reverse = hub_client.get("/hub/leaderboard/?window=all&sort=-name").context["page"].object_list
    assert [r.name for r in reverse] == names[::-1]


def test_columns_toggle_and_cheap_first_for_costs():
    by = {c.key: c for c in leaderboard_columns("-hit_rate_low")}
    assert by["hit_rate_low"].active == "descending" and by["hit_rate_low"].sort == "hit_rate_low"
    assert by["cost_usd"].sort == "cost_usd"  # lower is better: ascending first
    assert by["decisions"].sort == "-decisions"


def test_filters_narrow_the_rankings(finished_run, hub_client):
    bulls = hub_client.get("/hub/leaderboard/?window=all&role=bull").context["page"].object_list
    assert [r.role for r in bulls] == ["bull"]
    assert not hub_client.get("/hub/leaderboard/?window=all&symbol=BOLT").context["page"].object_list
    assert not hub_client.get("/hub/leaderboard/?window=all&tier=powerful").context["page"].object_list
    assert hub_client.get("/hub/leaderboard/?window=24h").context["page"].object_list  # ran just now


def test_trader_rankings_ignore_agent_filters_and_say_so(finished_run, hub_client):
    response = hub_client.get("/hub/leaderboard/?kind=traders&window=all&role=bull")
    rows = list(response.context["page"].object_list)
    assert [r.name for r in rows] == ["steady"]
    html = response.content.decode()
    assert 'id="trader-filter-note"' in html
    assert f'href="/admin/competition/traderprofile/{finished_run.entries.first().trader_id}/change/"' in html
    assert response.context["activity"] is None


def test_rankings_paginate(finished_run, hub_client, monkeypatch):
    monkeypatch.setattr(views, "LEADERBOARD_PAGE_SIZE", 4)
    first = hub_client.get("/hub/leaderboard/?window=all")
    assert len(first.context["page"].object_list) == 4
    assert "Page 1 of 2" in first.content.decode()
    second = hub_client.get("/hub/leaderboard/?window=all&page=2")
    assert [r.rank for r in second.context["page"].object_list] == [5, 6]


def test_profile_names_are_escaped(finished_run, hub_client):
    from agents.models import AgentProfile

    AgentProfile.objects.filter(name="rules-bull").update(name="<img src=x onerror=alert(1)>")
    html = hub_client.get("/hub/leaderboard/?window=all").content.decode()
    assert "<img src=x" not in html
    assert escape("<img src=x onerror=alert(1)>") in html
