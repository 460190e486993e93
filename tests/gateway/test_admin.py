"""Admin pages for profiles (with fallbacks), budgets and the call ledger render; the ledger is read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.gateway import CallAttempt
from agents.models import AgentProfile
from agents.providers.base import Usage
from debates.ledger import llm_call_row
from tests.gateway.conftest import make_profile, spec_of

pytestmark = pytest.mark.django_db


def test_admin_pages_render_and_the_ledger_cannot_be_edited(admin_client) -> None:
    fallback = make_profile("http://127.0.0.1:9/v1", name="fb")
    profile = make_profile("http://127.0.0.1:9/v1", name="main", fallbacks=(fallback,), budget_usd=Decimal(1))
    attempt = CallAttempt(
        1, spec_of(profile), "analysis", "bull", "ok", Usage(10, 5), Decimal("0.001"), 12, "r1", "", "v1"
    )
    row = llm_call_row(attempt)
    row.save()

    for url in (
        f"/admin/agents/agentprofile/{profile.pk}/change/",
        "/admin/agents/budgetwindow/",
        "/admin/agents/budgetreservation/",
        "/admin/debates/llmcall/",
        f"/admin/debates/llmcall/{row.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/debates/llmcall/add/").status_code == 403
    assert admin_client.post(f"/admin/debates/llmcall/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AgentProfile.objects.get(pk=profile.pk).fallbacks.get() == fallback
