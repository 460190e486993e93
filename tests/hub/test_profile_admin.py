"""Profiles in the Django admin: activate / deactivate, duplicate, and "test call" through the gateway
(the real OpenAI SDK against the local fake server; the ledger records each check; no key shown)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client

from agents.models import AgentProfile, ProfileFallback
from agents.services import profile_duplicate
from debates.models import LlmCall
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.gateway.conftest import make_profile

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/agents/agentprofile/"
SECRET = "sk-hub-test-0123456789abcdef"


@pytest.fixture
def admin(db: None) -> Client:
    user = User.objects.create_superuser("boss", password="pw-boss-123")
    client = Client()
    client.force_login(user)
    return client


def _act(client: Client, action: str, profiles: list[AgentProfile]) -> list[str]:
    response = client.post(
        CHANGELIST, {"action": action, "_selected_action": [p.pk for p in profiles]}, follow=True
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)] or [
        str(m) for m in response.context["messages"]
    ]


def test_activate_and_deactivate(arena: Any, admin: Client) -> None:
    bull, bear = AgentProfile.objects.filter(name__in=["rules-bull", "rules-bear"]).order_by("name")
    assert _act(admin, "deactivate", [bull, bear]) == ["Deactivated 2 profile(s)."]
    assert not AgentProfile.objects.filter(pk__in=[bull.pk, bear.pk], active=True).exists()
    assert _act(admin, "activate", [bull]) == ["Activated 1 profile(s)."]
    assert _act(admin, "activate", [bull]) == ["Activated 0 profile(s)."]  # already on: nothing changed
    assert AgentProfile.objects.get(pk=bull.pk).active


def test_duplicate_makes_inactive_copies_with_fallbacks(arena: Any, admin: Client) -> None:
    backup = make_profile(name="backup-bull", provider="rules", model="rules-v1")
    main = make_profile(
        "http://127.0.0.1:9/v1", name="main-bull", fallbacks=(backup,), budget_usd=Decimal("2.5")
    )
    assert _act(admin, "duplicate", [main]) == ["main-bull: copied as main-bull (copy) (inactive)."]
    copy = AgentProfile.objects.get(name="main-bull (copy)")
    assert not copy.active
    assert (copy.role, copy.provider, copy.model, copy.base_url, copy.budget_usd) == (
        main.role,
        main.provider,
        main.model,
        main.base_url,
        Decimal("2.5"),
    )
    assert [f.fallback.name for f in ProfileFallback.objects.filter(profile=copy)] == ["backup-bull"]
    # a second copy does not collide with the first
    assert profile_duplicate(profile=main).name == "main-bull (copy 2)"


def test_test_call_reports_status_latency_tokens_and_cost_never_the_key(
    arena: Any, admin: Client, fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_TEST_KEY", SECRET)
    ok = make_profile(
        fake_llm.openai_base_url,
        name="local-ok",
        api_key_env="HUB_TEST_KEY",
        price_input_per_mtok=Decimal("0.5"),
        price_output_per_mtok=Decimal("1.5"),
    )
    rules = AgentProfile.objects.get(name="rules-bull")
    texts = _act(admin, "test_call", [ok, rules])

    assert len(texts) == 2
    local = next(t for t in texts if t.startswith("local-ok"))
    assert "openai_compatible/local-model): ok," in local
    assert " ms, " in local and " out tokens, $0.0" in local
    assert next(t for t in texts if t.startswith("rules-bull")).startswith("rules-bull (rules/")
    assert all(SECRET not in t for t in texts)
    assert fake_llm.requests[0].headers.get("authorization") == f"Bearer {SECRET}"  # it was used, not shown
    rows = LlmCall.objects.filter(purpose="health_check", session__isnull=True)
    assert sorted(r.profile.name for r in rows) == ["local-ok", "rules-bull"]


def test_test_call_failure_is_an_error_message_without_the_key(
    arena: Any, admin: Client, fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_TEST_KEY", SECRET)
    fake_llm.responder = lambda r: Reply.bad_request(f"invalid api key {SECRET}")
    bad = make_profile(fake_llm.openai_base_url, name="local-bad", api_key_env="HUB_TEST_KEY")
    response = admin.post(CHANGELIST, {"action": "test_call", "_selected_action": [bad.pk]}, follow=True)
    [message] = list(response.context["messages"])
    assert message.level_tag == "error"
    assert str(message).startswith("local-bad (openai_compatible/local-model): ")
    assert SECRET not in response.content.decode()
    assert LlmCall.objects.get(profile=bad).status != "ok"


def test_actions_need_staff_permissions(arena: Any, client: Client) -> None:
    user = User.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    client.force_login(user)
    rules = AgentProfile.objects.get(name="rules-bull")
    response = client.post(CHANGELIST, {"action": "deactivate", "_selected_action": [rules.pk]})
    assert response.status_code == 403  # no permissions on profiles at all
    assert AgentProfile.objects.get(pk=rules.pk).active
