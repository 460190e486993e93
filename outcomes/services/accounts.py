"""Trading accounts: the default paper account, a competition's accounts, and whose book a debate reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from agents.schemas import Account, Position
from arena_project.errors import ConflictError
from debates.models import DebateSession
from outcomes.brokers.simulated import books_as_of, last_closes
from outcomes.models import (
    BrokerKind,
    SessionAccount,
    TradingAccount,
)

DEFAULT_ACCOUNT = "paper-default"
ZERO = Decimal(0)
# A live Alpaca account shows today's book; a debate dated before this many days ago gets a flat book.
_LIVE_BOOK_DAYS = 4


def trading_account_create(*, name: str, broker: str = BrokerKind.SIMULATED, **fields: Any) -> TradingAccount:
    """Create an account (a competition may create a throwaway one per run); its cash starts full.

    Raises django ValidationError naming the field for bad settings (e.g. live on a simulated broker).
    """
    account = TradingAccount(name=name, broker=broker, **fields)
    account.cash = account.starting_cash
    account.full_clean()
    account.save()
    return account


def trading_account_default_get() -> TradingAccount:
    """The default paper account on the simulated broker, created on first use (race-safe)."""
    account = TradingAccount.objects.filter(is_default=True).first()
    if account is not None:
        return account
    cash = Decimal(settings.ARENA_PAPER_STARTING_CASH)
    try:
        with transaction.atomic():
            account, _created = TradingAccount.objects.get_or_create(
                name=DEFAULT_ACCOUNT,
                defaults={
                    "is_default": True,
                    "starting_cash": cash,
                    "cash": cash,
                    "description": "Paper account on the simulated broker; debates trade here by default.",
                },
            )
    except IntegrityError:  # another process made the default at the same moment
        return TradingAccount.objects.get(is_default=True)
    return account


@transaction.atomic
def session_account_attach(*, session: DebateSession, account: TradingAccount) -> SessionAccount:
    """Make ``session`` trade for ``account`` (before it runs); re-attaching to another account is refused."""
    link, created = SessionAccount.objects.get_or_create(session=session, defaults={"account": account})
    if not created and link.account_id != account.pk:
        raise ConflictError(f"Debate {session.pk} already trades for account {link.account_id}.")
    return link


def session_accounts_attach(*, links: Sequence[tuple[DebateSession, TradingAccount]]) -> list[SessionAccount]:
    """Make each new session trade for its account, in one INSERT: ``session_account_attach`` for a
    batch of sessions the caller just created (a backtest day's debates, before they run).

    A fresh session has no account yet, so there is nothing to look up first; a session that
    already has one is refused by the one-to-one constraint (IntegrityError), the whole batch with
    it - never silently moved to another account. One bulk INSERT, atomic on its own: no
    savepoint of ours (two more statements per call inside the engine's transaction).
    """
    return SessionAccount.objects.bulk_create(
        SessionAccount(session=session, account=account) for session, account in links
    )


def account_for_session(session: DebateSession) -> TradingAccount:
    """The account attached to the debate, else the default one (one query when both exist)."""
    attached = SessionAccount.objects.filter(session=session).values("account_id")
    # An attached account that is not the default sorts first (False < True).
    candidates = TradingAccount.objects.filter(Q(pk__in=attached) | Q(is_default=True)).order_by("is_default")
    return candidates.first() or trading_account_default_get()


class TradingAccountSource:
    """The debates' AccountSource for a trading account: the simulated book, or Alpaca's account.

    The simulated book is read as it stands (no locks, no order matching: a debate only reads),
    valued at closes on or before the debate's date, once per debate (once per batch of debates, for
    all their dates, when a batch shares the source: :func:`trading_account_sources`). Alpaca has
    no past view of an account, so a debate dated more than a few days back sees a flat account at
    the starting cash instead of today's book.
    """

    def __init__(self, account: TradingAccount, *, as_ofs: Iterable[dt.date] = ()) -> None:
        """``as_ofs``: the dates the debates sharing this source will ask about (a simulated book is
        then read for all of them at once, on the first ask)."""
        self.trading_account = account
        self.name = f"{account.broker}:{account.name}"
        self._books: dict[dt.date, tuple[Account, list[Position]]] = {}
        self._as_ofs = set(as_ofs)

    def account(self, *, as_of: dt.date) -> Account:
        return self._book(as_of)[0]

    def positions(self, *, as_of: dt.date) -> list[Position]:
        return self._book(as_of)[1]

    def _book(self, as_of: dt.date) -> tuple[Account, list[Position]]:
        if as_of not in self._books:
            if self.trading_account.broker == BrokerKind.SIMULATED:
                self._books.update(self._simulated_books({as_of} | (self._as_ofs - self._books.keys())))
            elif self._live(as_of):
                self._books[as_of] = self._broker_book(as_of)
            else:
                cash = self.trading_account.starting_cash.quantize(Decimal("0.0001"))
                flat = Account(
                    cash=cash, equity=cash, buying_power=cash, source=f"{self.name} (flat: as-of view)"
                )
                self._books[as_of] = (flat, [])
        return self._books[as_of]

    def _simulated_books(self, as_ofs: set[dt.date]) -> dict[dt.date, tuple[Account, list[Position]]]:
        """The book after the bar of each date, replayed from the fills (as-of clock: nothing later);
        the fills and the positions' marks are read once for all the dates."""
        books = books_as_of(self.trading_account, as_ofs)
        closes = last_closes({s for _cash, held in books.values() for s in held}, as_ofs)
        return {as_of: self._simulated_book(as_of, *books[as_of], closes) for as_of in as_ofs}

    def _simulated_book(
        self,
        as_of: dt.date,
        cash: Decimal,
        held: dict[str, tuple[Decimal, Decimal]],
        closes: dict[tuple[str, dt.date | None], Decimal | None],
    ) -> tuple[Account, list[Position]]:
        """The debates' view of the replayed book as of ``as_of``: each position at its last close."""
        # Same value, same text: an account just created holds Decimal("100000"), one read back from
        # the database "100000.0000"; a replayed debate must see byte-identical context.
        cash = cash.quantize(Decimal("0.0001"))
        positions = []
        for symbol, (quantity, average) in sorted(held.items()):
            mark = closes[symbol, as_of] or average
            positions.append(
                Position(
                    symbol=symbol,
                    quantity=quantity,
                    average_price=average,
                    market_value=(quantity * mark).quantize(Decimal("0.0001")),
                )
            )
        value = sum((p.market_value for p in positions), ZERO)
        state = Account(cash=cash, equity=cash + value, buying_power=max(cash, ZERO), source=self.name)
        return state, positions

    def _broker_book(self, as_of: dt.date) -> tuple[Account, list[Position]]:
        from outcomes.brokers import broker_for

        state, held = broker_for(self.trading_account).book(as_of=as_of)
        positions = [
            Position(
                symbol=p.symbol,
                quantity=p.quantity,
                average_price=p.average_price,
                market_value=p.market_value,
            )
            for p in held
        ]
        account = Account(
            cash=state.cash, equity=state.equity, buying_power=state.buying_power, source=self.name
        )
        return account, positions

    def _live(self, as_of: dt.date) -> bool:
        from debates.market.alpaca import new_york_today

        return as_of >= new_york_today() - dt.timedelta(days=_LIVE_BOOK_DAYS)


def trading_account_source(session: DebateSession) -> TradingAccountSource:
    """The resolver registered with debates.market.sources: a debate reads its account's book."""
    return TradingAccountSource(account_for_session(session))


def trading_account_sources(sessions: Sequence[DebateSession]) -> dict[int, TradingAccountSource]:
    """The batch resolver registered with debates.market.sources: each debate's account as
    :func:`account_for_session` picks it, read for the whole batch in two queries, and one source
    per account shared by its debates, which reads the account's book as of all their dates at once.
    (A batch writes nothing between its debates' reads: its trades open after it commits.)"""
    attached = dict(
        SessionAccount.objects.filter(session__in=[s.pk for s in sessions]).values_list(
            "session_id", "account_id"
        )
    )
    accounts = {
        account.pk: account
        for account in TradingAccount.objects.filter(Q(pk__in=set(attached.values())) | Q(is_default=True))
    }
    default = next((a for a in accounts.values() if a.is_default), None)
    chosen: dict[int, TradingAccount] = {}
    dates: dict[int, set[dt.date]] = {}  # per account, its debates' dates
    for session in sessions:
        account = accounts.get(attached.get(session.pk, 0))
        if account is None:
            default = default or trading_account_default_get()
            account = default
        chosen[session.pk] = account
        dates.setdefault(account.pk, set()).add(session.as_of)
    shared = {
        account.pk: TradingAccountSource(account, as_ofs=dates[account.pk]) for account in chosen.values()
    }
    return {session.pk: shared[chosen[session.pk].pk] for session in sessions}
