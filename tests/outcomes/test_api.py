"""GET /api/outcomes (filters, pagination, auth, bad input) and GET /api/outcomes/{id}."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from debates.models import DebateConsensus
from debates.services import debate_run_now
from outcomes.models import Outcome, TradingAccount
from outcomes.services import decision_trade_open, outcomes_update, session_account_attach
from outcomes.tasks import order_submit

pytestmark = pytest.mark.django_db
Decide = Callable[..., DebateConsensus]


@pytest.fixture
def outcomes(account: TradingAccount, make_decision: Decide) -> list[Outcome]:
    """Three settled outcomes (ACME buy, BOLT hold, CYAN buy) and one pending (ACME, at the last bar)."""
    made = []
    for symbol, as_of, action in [
        ("ACME", dt.date(2024, 3, 1), "buy"),
        ("BOLT", dt.date(2023, 9, 1), "hold"),
        ("CYAN", dt.date(2023, 9, 1), "buy"),
        ("ACME", dt.date(2025, 12, 31), "buy"),
    ]:
        consensus = make_decision(symbol=symbol, as_of=as_of, action=action)
        session_account_attach(session=consensus.session, account=account)
        outcome = decision_trade_open(consensus_id=consensus.pk)
        if outcome.intent is not None:
            order_submit(outcome.intent.pk)
        made.append(outcome)
    outcomes_update()
    return [Outcome.objects.get(pk=o.pk) for o in made]


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_outcomes_need_authentication(anon_client: APIClient) -> None:
    response = anon_client.get("/api/outcomes")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_list_newest_first_with_and_without_trailing_slash(
    api_client: APIClient, outcomes: list[Outcome]
) -> None:
    newest_first = [o.pk for o in reversed(outcomes)]
    assert ids(api_client.get("/api/outcomes")) == newest_first
    assert ids(api_client.get("/api/outcomes/")) == newest_first
    row = api_client.get("/api/outcomes").json()["results"][-1]
    assert row["symbol"] == "ACME" and row["action"] == "buy" and row["account"]["name"] == "test-sim"
    assert row["status"] in ("win", "loss", "flat") and row["horizon_bars"] == 5
    assert row["broker_order"]["status"] == "filled" and row["intent"]["status"] == "submitted"


def test_filters(api_client: APIClient, outcomes: list[Outcome], account: TradingAccount) -> None:
    acme_settled, bolt_hold, cyan, acme_pending = outcomes
    assert ids(api_client.get("/api/outcomes", {"symbol": "acme"})) == [acme_pending.pk, acme_settled.pk]
    assert ids(api_client.get("/api/outcomes", {"status": "pending"})) == [acme_pending.pk]
    assert ids(api_client.get("/api/outcomes", {"action": "hold"})) == [bolt_hold.pk]
    assert ids(api_client.get("/api/outcomes", {"as_of": "2023-09-01"})) == [cyan.pk, bolt_hold.pk]
    assert ids(
        api_client.get("/api/outcomes", {"as_of_after": "2024-01-01", "as_of_before": "2024-12-31"})
    ) == [acme_settled.pk]
    assert ids(api_client.get("/api/outcomes", {"account": account.name})) == [
        o.pk for o in reversed(outcomes)
    ]
    assert ids(api_client.get("/api/outcomes", {"account": "nobody"})) == []
    status = acme_settled.status
    assert acme_settled.pk in ids(api_client.get("/api/outcomes", {"status": status}))


def test_profile_filter_finds_the_debates_an_agent_sat_in(
    api_client: APIClient, arena: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        session = debate_run_now(symbol="ACME", as_of=dt.date(2024, 3, 1))
    outcome = Outcome.objects.get(consensus__session=session)
    assert ids(api_client.get("/api/outcomes", {"profile": "rules-bull"})) == [outcome.pk]
    assert ids(api_client.get("/api/outcomes", {"profile": "rules-judge"})) == [outcome.pk]
    assert ids(api_client.get("/api/outcomes", {"profile": "rules-bull-deep"})) == []  # never escalated


def test_pagination(api_client: APIClient, outcomes: list[Outcome]) -> None:
    page = api_client.get("/api/outcomes", {"page_size": 3}).json()
    assert page["count"] == 4 and len(page["results"]) == 3 and page["next"]
    assert len(api_client.get("/api/outcomes", {"page_size": 3, "page": 2}).json()["results"]) == 1
    missing = api_client.get("/api/outcomes", {"page": 99})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "great"}, "status"),
        ({"action": "short"}, "action"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of_after": "2024-13-01"}, "as_of_after"),
        ({"settled_after": "soon"}, "settled_after"),
    ],
)
def test_bad_filters_are_400_with_the_field(
    api_client: APIClient, arena: Any, params: dict[str, str], field: str
) -> None:
    response = api_client.get("/api/outcomes", params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and field in body["extra"]["fields"]


def test_detail_has_the_whole_trail(api_client: APIClient, outcomes: list[Outcome]) -> None:
    outcome = outcomes[0]
    body = api_client.get(f"/api/outcomes/{outcome.pk}").json()
    assert api_client.get(f"/api/outcomes/{outcome.pk}/").status_code == 200
    assert body["decision_id"] == outcome.consensus_id and body["session_url"].endswith(
        str(outcome.consensus.session_id)
    )
    assert [c["name"] for c in body["risk_checks"]][:2] == ["kill_switch", "broker_ready"]
    assert len(body["fills"]) == 1 and body["detail"]["mark"]
    hold = api_client.get(f"/api/outcomes/{outcomes[1].pk}").json()
    assert (hold["intent"], hold["broker_order"], hold["risk_checks"], hold["fills"]) == (None, None, [], [])
    assert hold["basis"] == "forward_return" and hold["hypothetical"] is True


@pytest.mark.parametrize("outcome_id", ["999999", "abc", "-1", "9" * 30, "%C2%84"])
def test_unknown_outcome_is_a_json_404(api_client: APIClient, arena: Any, outcome_id: str) -> None:
    response = api_client.get(f"/api/outcomes/{outcome_id}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_nul_character_in_a_filter_is_a_400(api_client: APIClient, arena: Any) -> None:
    response = api_client.get("/api/outcomes", {"symbol": "A\x00B"})
    assert response.status_code == 400 and "symbol" in response.json()["extra"]["fields"]


def test_session_without_a_decision_has_no_trade_section(api_client: APIClient, arena: Any) -> None:
    from debates.models import DebateSession, DebateStatus

    session = DebateSession.objects.create(
        symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena, status=DebateStatus.FAILED
    )
    body = api_client.get(f"/api/debate/sessions/{session.pk}").json()
    assert body["sections"]["trade"] is None
