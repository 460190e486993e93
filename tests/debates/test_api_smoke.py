import pytest

from debates.models import DebateConsensus, DebateSession, DebateStatus

pytestmark = pytest.mark.django_db


def test_post_session_runs_through_django_q_and_completes(
    arena, api_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/debate/sessions", {"symbol": "acme", "as_of": "2024-03-01"}, format="json"
        )
    assert response.status_code == 202, response.content
    session = DebateSession.objects.get(pk=response.json()["id"])
    assert session.status == DebateStatus.COMPLETED
    detail = api_client.get(response.json()["url"]).json()
    assert detail["symbol"] == "ACME"
    assert len(detail["messages"]) == 6
    assert [c["tool"] for c in detail["tool_calls"]] == [
        "get_bars",
        "get_quote",
        "get_account",
        "get_positions",
    ]
    assert detail["consensus"]["action"] in {"buy", "sell", "hold"}
    assert DebateConsensus.objects.count() == 1
