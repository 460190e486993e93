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
