"""The JSON twins under /api/admin/arena/: shapes, numbers, pagination, errors."""

from decimal import Decimal

import pytest

from debates.models import DebateStatus
from tests.hub.factories import make_debates

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api(staff_client):
    return staff_client


def test_overview_api_matches_the_page(arena, staff_api, hub_client, django_assert_max_num_queries):
    make_debates(arena, 2, cost=Decimal("0.5"), agreement=0.75, escalated=True)
    make_debates(arena, 1, status=DebateStatus.RUNNING, symbol="BOLT")
    with django_assert_max_num_queries(8):
        body = staff_api.get("/api/admin/arena/overview").json()
    today = body["periods"][0]
    assert today["key"] == "today"
    assert (today["debates"], today["completed"], today["active"], today["escalated"]) == (3, 2, 1, 2)
    # the ledger's spend: both completed debates and what the running one has spent so far
    assert Decimal(today["cost_usd"]) == pytest.approx(Decimal("1.0123"), abs=Decimal("1e-8"))
    assert today["unpriced_calls"] == 0
    assert today["pass_rate"] == 1.0
    assert today["calls"] == 2 * 6 + 5
    assert today["tokens"] == (2 * 6 + 5) * 1200
    assert today["calls_source"] == "LLM calls"
    assert body["agreement_histogram"]["counts"][7] == 2
    assert len(body["agreement_histogram"]["edges"]) == 11
    assert len(body["daily"]) == 14
    assert [a["symbol"] for a in body["active"]] == ["BOLT"]
    assert body["active"][0]["answers"] == 5
    page_today = hub_client.get("/hub/").context["periods"][0]
    assert page_today.debates == today["debates"]


def test_runs_api_paginates_and_filters(arena, staff_api, django_assert_max_num_queries):
    make_debates(arena, 30, symbol="ACME")
    make_debates(arena, 2, status=DebateStatus.FAILED, symbol="BOLT")
    with django_assert_max_num_queries(4):
        body = staff_api.get("/api/admin/arena/runs?page_size=10").json()
    assert body["count"] == 32
    assert len(body["results"]) == 10
    first = body["results"][0]
    assert first["status"] == "failed" and first["consensus"] is None
    assert first["hub_url"] == f"/hub/debates/{first['id']}/"
    assert first["api_url"] == f"/api/admin/arena/runs/{first['id']}"
    completed = staff_api.get(
        "/api/admin/arena/runs/?status=completed&symbol=acme&page=3&page_size=10"
    ).json()
    assert len(completed["results"]) == 10
    assert completed["results"][0]["consensus"]["action"] == "buy"
    assert staff_api.get("/api/admin/arena/runs?symbol=BOLT").json()["count"] == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=exploded", "status"),
        ("symbol=1ABC", "symbol"),
        ("page_size=0", "page_size"),
        ("colour=red", "colour"),
    ],
)
def test_runs_api_bad_query_is_a_400_with_field_messages(arena, staff_api, query, field):
    response = staff_api.get(f"/api/admin/arena/runs?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["extra"]["fields"]


def test_runs_api_page_out_of_range_is_a_404(arena, staff_api):
    response = staff_api.get("/api/admin/arena/runs?page=50")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_run_detail_api_has_breakdown_and_timeline(arena, staff_api, django_assert_max_num_queries):
    (session,) = make_debates(arena, 1, rounds=2, cost=Decimal("1.2"), escalated=True)
    # session, user, the debate (5), the ledger summed per answer, the outcomes "trade" section (2)
    with django_assert_max_num_queries(10):
        body = staff_api.get(f"/api/admin/arena/runs/{session.pk}").json()
    assert len(body["messages"]) == 12
    assert Decimal(body["cost_breakdown"]["total_cost_usd"]) == Decimal("1.2")
    assert [r["label"] for r in body["cost_breakdown"]["per_round"]] == ["Round 1", "Round 2"]
    assert [r["input_tokens"] for r in body["cost_breakdown"]["per_round"]] == [6000, 6000]
    assert body["cost_breakdown"]["unattributed"] is None
    assert body["timeline"][0] == {
        "label": "get_bars #1",
        "kind": "tool",
        "start_ms": 0,
        "duration_ms": 3,
        "detail": "get_bars done",
    }
    assert body["consensus"]["triggers_fired"][0]["name"] == "agreement_below"


def test_run_detail_api_unknown_is_a_404(arena, staff_api):
    response = staff_api.get("/api/admin/arena/runs/123456789")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No debate #123456789.", "extra": {}}


def test_hub_api_is_in_the_openapi_schema(arena, staff_api):
    paths = {
        p.rstrip("/"): spec for p, spec in staff_api.get("/api/schema/?format=json").json()["paths"].items()
    }
    for path in ("/api/admin/arena/overview", "/api/admin/arena/runs", "/api/admin/arena/runs/{session_id}"):
        assert path in paths, path
        responses = paths[path]["get"]["responses"]
        assert {"200", "401", "403"} <= set(responses)
    assert "400" in paths["/api/admin/arena/runs"]["get"]["responses"]
