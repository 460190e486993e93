"""Done-when: debates of openai_compatible panels against the fake server, end to end.

Through the API (django-q2 runs the task inline), ``run_debate --json``, ``check_providers``;
broken JSON repaired, a failing server answered by fallbacks, and 20 concurrent debates that never
spend past a budget cap (PostgreSQL).
"""

from __future__ import annotations

import io
import json
import threading
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum

from agents.models import AgentProfile, BudgetWindow, PanelSeat
from debates.models import DebateMessage, DebateSession, DebateStatus, LlmCall, ValidationStatus
from debates.services import debate_run_now
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.fakes.schema_example import example_for_schema
from tests.gateway.conftest import llm_panel, make_profile

PRICES = {"price_input_per_mtok": Decimal("0.5"), "price_output_per_mtok": Decimal("1.5")}


def post_debate(client, django_capture_on_commit_callbacks, panel: str) -> dict:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/debate/sessions", {"symbol": "acme", "panel": panel}, format="json")
    assert response.status_code == 202, response.content
    detail = client.get(response.json()["url"])
    assert detail.status_code == 200
    return detail.json()


@pytest.mark.django_db
def test_llm_panel_debate_through_the_api_shows_every_call(
    arena, api_client, fake_llm: FakeLLMServer, django_capture_on_commit_callbacks
) -> None:
    llm_panel(fake_llm.openai_base_url, **PRICES)

    detail = post_debate(api_client, django_capture_on_commit_callbacks, "llm-panel")

    assert detail["status"] == "completed", detail["error"]
    assert len(detail["messages"]) == 6 and len(fake_llm.requests) == 6
    for message in detail["messages"]:
        [call] = message["calls"]
        assert call["status"] == "ok" and call["attempt"] == 1
        assert call["input_tokens"] > 0 and call["output_tokens"] > 0
        assert Decimal(call["cost_usd"]) > 0 and call["latency_ms"] >= 0
        assert call["provider_request_id"].startswith("req_fake_")
        assert message["input_tokens"] == call["input_tokens"] and message["call_status"] == "ok"
        assert message["prompt_version"].startswith(f"v1/{message['role']}@")
    ledger = LlmCall.objects.filter(session_id=detail["id"])
    assert ledger.count() == 6 and not ledger.filter(message__isnull=True).exists()
    total = ledger.aggregate(total=Sum("cost_usd"))["total"]
    assert Decimal(detail["total_cost_usd"]) == total.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    assert detail["total_cost_complete"] is True and detail["unknown_cost_calls"] == 0
    assert detail["consensus"]["action"] in {"buy", "sell", "hold"}


@pytest.mark.django_db
def test_unknown_prices_are_flagged_not_zeroed(
    arena, api_client, fake_llm: FakeLLMServer, django_capture_on_commit_callbacks
) -> None:
    llm_panel(fake_llm.openai_base_url)  # a local model: no price anywhere

    detail = post_debate(api_client, django_capture_on_commit_callbacks, "llm-panel")

    assert detail["status"] == "completed"
    assert detail["total_cost_complete"] is False and detail["unknown_cost_calls"] == 6
    assert all(m["cost_usd"] is None for m in detail["messages"])


def _fenced(request) -> Reply:
    """A model that wraps its JSON in prose and a Markdown fence, with a trailing comma."""
    body = json.dumps(example_for_schema(request.schema))
    return Reply.text(f"Sure! Here it is:\n```json\n{body[:-1]},}}\n```")


@pytest.mark.django_db
def test_broken_json_debates_still_complete_with_repairs_recorded(arena, fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = _fenced
    llm_panel(fake_llm.openai_base_url, **PRICES)

    session = debate_run_now(symbol="ACME", panel="llm-panel")

    assert session.status == DebateStatus.COMPLETED, session.error
    messages = DebateMessage.objects.filter(session=session)
    assert {m.repaired_by for m in messages} == {"local"}
    assert {m.validation_status for m in messages} == {ValidationStatus.REPAIRED}
    assert all(m.raw_output.startswith("Sure!") for m in messages)
    assert set(LlmCall.objects.filter(session=session).values_list("status", flat=True)) == {"repaired"}


@pytest.mark.django_db
def test_a_server_failing_every_call_is_answered_by_the_fallbacks(arena, fake_llm: FakeLLMServer) -> None:
    panel = None
    with FakeLLMServer(responder=lambda _r: Reply.server_error(502)) as down:
        panel = llm_panel(down.openai_base_url, params={"max_retries": 1})
        for seat in PanelSeat.objects.filter(panel=panel):
            backup = make_profile(fake_llm.openai_base_url, role=seat.role, name=f"backup-{seat.role}")
            seat.profile.fallback_links.create(fallback=backup, position=1)

        session = debate_run_now(symbol="ACME", panel=panel.name)

    assert session.status == DebateStatus.COMPLETED, session.error
    for message in DebateMessage.objects.filter(session=session).select_related("profile"):
        assert message.profile.name == f"backup-{message.role}"
        calls = list(message.llm_calls.order_by("attempt").values_list("status", "profile__name"))
        assert [status for status, _name in calls] == ["provider_error", "provider_error", "ok"]
        assert calls[-1][1] == f"backup-{message.role}"


@pytest.mark.django_db
def test_run_debate_json_shows_calls_and_the_session_total(arena, fake_llm: FakeLLMServer) -> None:
    llm_panel(fake_llm.openai_base_url, **PRICES)
    out = io.StringIO()

    call_command("run_debate", "ACME", "--panel", "llm-panel", "--json", stdout=out)

    data = json.loads(out.getvalue())
    assert data["status"] == "completed" and Decimal(data["total_cost_usd"]) > 0
    call = data["messages"][0]["calls"][0]
    assert {"input_tokens", "output_tokens", "cost_usd", "latency_ms", "status"} <= set(call)
    table = io.StringIO()
    call_command("run_debate", "ACME", "--panel", "llm-panel", stdout=table)
    assert "purpose" in table.getvalue() and "analysis" in table.getvalue() and "Cost: $" in table.getvalue()


@pytest.mark.django_db
def test_check_providers_records_and_prints_each_profile(arena, fake_llm: FakeLLMServer) -> None:
    make_profile(fake_llm.openai_base_url, name="local-ok", **PRICES)
    out = io.StringIO()

    call_command("check_providers", stdout=out)

    text = out.getvalue()
    assert "local-ok" in text and "rules-bull" in text
    assert LlmCall.objects.filter(purpose="health_check", session__isnull=True).count() == (
        AgentProfile.objects.filter(active=True).count()
    )
    [row] = LlmCall.objects.filter(profile__name="local-ok")
    assert row.status == "ok" and row.cost_usd > 0 and row.input_tokens > 0
    request = fake_llm.requests[0].json
    assert request["response_format"]["json_schema"]["schema"]["title"] == "HealthCheck"


@pytest.mark.django_db
def test_check_providers_fails_naming_the_missing_variable(
    arena, fake_llm: FakeLLMServer, monkeypatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    make_profile(fake_llm.openai_base_url, provider="openai", model="gpt-4o-mini", name="needs-key")
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 of 1 profile"):
        call_command("check_providers", "--profile", "needs-key", stdout=out)

    assert "OPENAI_API_KEY" in out.getvalue()
    assert LlmCall.objects.get(profile__name="needs-key").status == "provider_error"
    with pytest.raises(CommandError, match="Unknown profile"):
        call_command("check_providers", "--profile", "nobody", stdout=out)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_debates_never_spend_past_the_cap(arena, fake_llm: FakeLLMServer) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is verified against PostgreSQL")
    cap = Decimal("0.02")
    fake_llm.responder = lambda r: Reply.ok(
        example_for_schema(r.schema), usage={"input_tokens": 2000, "output_tokens": 300}, delay_s=0.02
    )
    llm_panel(
        fake_llm.openai_base_url, budget_usd=cap, params={"max_tokens": 400, "max_retries": 0}, **PRICES
    )
    sessions, errors = [], []

    def debate() -> None:
        try:
            sessions.append(debate_run_now(symbol="ACME", panel="llm-panel"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=debate) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors and len(sessions) == 20
    assert LlmCall.objects.filter(status="budget_denied").exists()
    assert DebateSession.objects.filter(status=DebateStatus.COMPLETED).exists()
    for profile in AgentProfile.objects.filter(name__startswith="llm-panel-"):
        recorded = LlmCall.objects.filter(profile=profile).aggregate(s=Sum("cost_usd"))["s"] or Decimal(0)
        assert recorded <= cap, profile.name
        window = BudgetWindow.objects.get(profile=profile)
        assert window.spent_usd == recorded and window.reserved_usd == 0


def _garbled_unless_repairing(request) -> Reply:
    """Analysts answer prose; the repair profile (recognised by its prompt) answers valid JSON."""
    system = request.json["messages"][0]["content"]
    if system.startswith("You repair malformed"):
        return Reply.ok(example_for_schema(request.schema))
    return Reply.text("I am fairly bullish on this one, maybe 70% sure.")


@pytest.mark.django_db
def test_model_repair_is_recorded_on_the_ledger_and_the_message(arena, fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = _garbled_unless_repairing
    repairer = make_profile(fake_llm.openai_base_url, name="json-fixer", **PRICES)
    panel = llm_panel(fake_llm.openai_base_url, **PRICES)
    AgentProfile.objects.filter(seats__panel=panel).update(repair_profile=repairer)

    session = debate_run_now(symbol="ACME", panel=panel.name)

    assert session.status == DebateStatus.COMPLETED, session.error
    for message in DebateMessage.objects.filter(session=session):
        assert message.repaired_by == "model" and message.raw_output.startswith("I am fairly bullish")
        calls = list(message.llm_calls.order_by("attempt").values_list("purpose", "status", "profile__name"))
        assert calls == [
            ("judge" if message.role == "judge" else "analysis", "invalid_output", message.profile.name),
            ("repair", "ok", "json-fixer"),
        ]
    session.refresh_from_db()
    total = LlmCall.objects.filter(session=session).aggregate(s=Sum("cost_usd"))["s"]
    assert (
        session.total_cost_usd == total.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        and session.unknown_cost_calls == 0
    )
