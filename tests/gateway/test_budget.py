"""Hard budget caps: reserve the worst case, settle the actual cost, refuse what would not fit."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from agents.budget import BudgetDenial, BudgetHold, budget_expire, budget_reserve, budget_settle, period_start
from agents.gateway import CallStatus
from agents.models import BudgetPeriod, BudgetReservation, BudgetWindow
from tests.fakes.llm_server import FakeLLMServer, Reply, Script
from tests.gateway.conftest import analysis, ask, make_profile

TTL = dt.timedelta(minutes=5)
PRICES = {"price_input_per_mtok": Decimal(1), "price_output_per_mtok": Decimal(2)}


@pytest.mark.django_db
def test_reserve_settle_and_deny() -> None:
    profile = make_profile("http://127.0.0.1:9/v1", budget_usd=Decimal("0.010"), **PRICES)

    hold = budget_reserve(profile_id=profile.pk, amount=Decimal("0.006"), ttl=TTL)
    assert isinstance(hold, BudgetHold)
    denied = budget_reserve(profile_id=profile.pk, amount=Decimal("0.005"), ttl=TTL)
    assert isinstance(denied, BudgetDenial)
    assert "exhausted" in denied.message and denied.reserved == Decimal("0.006")

    assert budget_settle(hold=hold, charged=Decimal("0.001"))
    assert not budget_settle(hold=hold, charged=Decimal("0.001"))  # settling twice does nothing
    window = BudgetWindow.objects.get(profile=profile)
    assert (window.spent_usd, window.reserved_usd) == (Decimal("0.001"), Decimal(0))
    assert isinstance(budget_reserve(profile_id=profile.pk, amount=Decimal("0.009"), ttl=TTL), BudgetHold)


@pytest.mark.django_db
def test_uncapped_profiles_hold_nothing() -> None:
    profile = make_profile("http://127.0.0.1:9/v1")
    assert budget_reserve(profile_id=profile.pk, amount=Decimal(5), ttl=TTL) is None
    assert not BudgetWindow.objects.exists()


@pytest.mark.django_db
def test_expired_holds_are_charged_in_full_before_a_refusal() -> None:
    profile = make_profile("http://127.0.0.1:9/v1", budget_usd=Decimal("0.010"), **PRICES)
    stale = budget_reserve(profile_id=profile.pk, amount=Decimal("0.008"), ttl=dt.timedelta(seconds=-1))
    assert isinstance(stale, BudgetHold)  # its process "died": never settled

    retry = budget_reserve(profile_id=profile.pk, amount=Decimal("0.005"), ttl=TTL)

    assert isinstance(retry, BudgetDenial)  # the dead call may have been billed: 0.008 is spent
    window = BudgetWindow.objects.get(profile=profile)
    assert (window.spent_usd, window.reserved_usd) == (Decimal("0.008"), Decimal(0))
    assert BudgetReservation.objects.get(pk=stale.reservation_id).charged_usd == Decimal("0.008")
    assert budget_expire() == 0


def test_period_starts() -> None:
    now = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)  # a Thursday
    assert period_start(BudgetPeriod.DAY, now) == dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    assert period_start(BudgetPeriod.WEEK, now) == dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    assert period_start(BudgetPeriod.MONTH, now) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert period_start(BudgetPeriod.TOTAL, now).year == 1970


@pytest.mark.django_db
def test_budget_denied_call_is_not_made_and_the_fallback_answers(fake_llm: FakeLLMServer) -> None:
    fallback = make_profile(fake_llm.openai_base_url, name="cheap-fallback")
    capped = make_profile(
        fake_llm.openai_base_url, budget_usd=Decimal("0.0001"), fallbacks=(fallback,), **PRICES
    )

    result = ask(capped)

    assert [a.status for a in result.attempts] == [CallStatus.BUDGET_DENIED, CallStatus.OK]
    assert result.attempts[0].cost_usd == Decimal(0)
    assert "exhausted" in result.attempts[0].error
    assert len(fake_llm.requests) == 1 and result.profile.name == "cheap-fallback"


@pytest.mark.django_db
def test_a_cap_cannot_be_enforced_without_a_price(fake_llm: FakeLLMServer) -> None:
    capped = make_profile(fake_llm.openai_base_url, budget_usd=Decimal(5))  # local model, no prices

    result = ask(capped)

    assert result.status == CallStatus.BUDGET_DENIED
    assert "no price is known" in result.error
    assert fake_llm.requests == []


@pytest.mark.django_db
def test_actual_cost_is_settled_and_failed_requests_cost_nothing(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script(
        [Reply.server_error(500), Reply.ok(analysis(), usage={"input_tokens": 1000, "output_tokens": 100})]
    )
    capped = make_profile(fake_llm.openai_base_url, budget_usd=Decimal(1), **PRICES)

    result = ask(capped)

    assert [a.status for a in result.attempts] == [CallStatus.PROVIDER_ERROR, CallStatus.OK]
    window = BudgetWindow.objects.get(profile=capped)
    assert window.spent_usd == Decimal("0.0012") == result.cost_usd
    assert window.reserved_usd == 0
    assert BudgetReservation.objects.filter(settled_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_missing_usage_is_charged_at_the_worst_case(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.ok(analysis(), omit_usage=True)])
    capped = make_profile(
        fake_llm.openai_base_url, budget_usd=Decimal(1), params={"max_tokens": 100}, **PRICES
    )

    result = ask(capped)

    assert result.cost_usd is None
    reservation = BudgetReservation.objects.get()
    assert reservation.charged_usd == reservation.amount_usd > 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_burst_never_spends_past_the_cap(fake_llm: FakeLLMServer) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is verified against PostgreSQL (SQLite serializes writers anyway)")
    cap = Decimal("0.03")
    fake_llm.responder = lambda _r: Reply.slow(
        0.05, analysis(), usage={"input_tokens": 2000, "output_tokens": 200}
    )
    capped = make_profile(
        fake_llm.openai_base_url, budget_usd=cap, params={"max_tokens": 300, "max_retries": 0}, **PRICES
    )
    results, errors = [], []

    def worker() -> None:
        try:
            results.append(ask(capped))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not errors and len(results) == 20
    made = [r for r in results if r.valid]
    denied = [r for r in results if r.status == CallStatus.BUDGET_DENIED]
    assert made and denied and len(made) + len(denied) == 20
    spent = sum(r.cost_usd for r in made)
    assert spent <= cap
    window = BudgetWindow.objects.get(profile=capped)
    assert window.spent_usd == spent and window.reserved_usd == 0
    assert len(fake_llm.requests) == len(made)  # a denied call never reached the server
    assert BudgetReservation.objects.aggregate(s=Sum("charged_usd"))["s"] == spent
