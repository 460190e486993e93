"""session_accounts_attach: a batch of fresh debates linked to the accounts they trade for."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from agents.models import Panel
from debates.services import DebateSessionRequest, debate_sessions_create
from outcomes.models import SessionAccount, TradingAccount
from outcomes.services import (
    account_for_session,
    session_account_attach,
    session_accounts_attach,
    trading_account_create,
)

pytestmark = pytest.mark.django_db

DAY = dt.date(2024, 3, 1)


@pytest.fixture
def other(arena: Panel) -> TradingAccount:
    return trading_account_create(name="test-sim-2", starting_cash=Decimal(50_000))


def _sessions(panel: Panel, *symbols: str):  # type: ignore[no-untyped-def]
    return debate_sessions_create(
        requests=[DebateSessionRequest(symbol=s, as_of=DAY, panel=panel) for s in symbols]
    )


def test_each_session_trades_for_its_own_account(
    arena: Panel, account: TradingAccount, other: TradingAccount
) -> None:
    first, second = _sessions(arena, "ACME", "BOLT")

    links = session_accounts_attach(links=[(first, account), (second, other)])

    assert [link.pk is not None for link in links] == [True, True]
    assert account_for_session(first) == account
    assert account_for_session(second) == other


def test_a_session_already_attached_refuses_the_whole_batch(
    arena: Panel, account: TradingAccount, other: TradingAccount
) -> None:
    attached, fresh = _sessions(arena, "ACME", "BOLT")
    session_account_attach(session=attached, account=account)

    with pytest.raises(IntegrityError), transaction.atomic():
        session_accounts_attach(links=[(fresh, other), (attached, other)])

    assert list(SessionAccount.objects.values_list("session_id", "account_id")) == [
        (attached.pk, account.pk)
    ]  # not moved to the other account, and the fresh session not linked either


def test_a_batch_resolves_each_debates_account_as_one_debate_would_in_two_queries(
    arena: Panel, other: TradingAccount, django_assert_num_queries
) -> None:
    from outcomes.services import trading_account_default_get, trading_account_sources

    default_attached, other_attached, plain, plain_too = _sessions(arena, "ACME", "BOLT", "CYAN", "DUNE")
    default = trading_account_default_get()
    session_accounts_attach(links=[(default_attached, default), (other_attached, other)])
    sessions = [default_attached, other_attached, plain, plain_too]

    with django_assert_num_queries(2):
        sources = trading_account_sources(sessions)

    assert {s.pk: sources[s.pk].trading_account for s in sessions} == {
        s.pk: account_for_session(s) for s in sessions
    }
    assert sources[plain.pk] is sources[plain_too.pk] is sources[default_attached.pk]  # one per account
    assert sources[other_attached.pk] is not sources[plain.pk]


def test_a_batch_without_a_default_account_creates_it_once(arena: Panel, other: TradingAccount) -> None:
    from outcomes.services import trading_account_sources

    assert not TradingAccount.objects.filter(is_default=True).exists()
    first, second = _sessions(arena, "ACME", "BOLT")

    sources = trading_account_sources([first, second])

    created = TradingAccount.objects.get(is_default=True)
    assert sources[first.pk].trading_account == created == sources[second.pk].trading_account
