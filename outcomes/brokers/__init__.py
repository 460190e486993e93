"""Brokers behind one interface (brokers.base.Broker), picked per trading account by :func:`broker_for`."""

from __future__ import annotations

from django.conf import settings

from outcomes.brokers.base import Broker, BrokerConfigurationError, LiveTradingRefusedError
from outcomes.models import BrokerKind, TradingAccount


def broker_for(account: TradingAccount) -> Broker:
    """The broker an account trades through.

    Alpaca is paper unless BOTH the account's live flag and ARENA_LIVE_TRADING=1 are set; an account
    marked live without the environment switch is refused outright (never quietly sent to paper).
    Raises BrokerConfigurationError (missing keys, unknown kind) or LiveTradingRefusedError.
    """
    if account.broker == BrokerKind.SIMULATED:
        from outcomes.brokers.simulated import SimulatedBroker

        return SimulatedBroker(account)
    if account.broker == BrokerKind.ALPACA:
        if account.live and not settings.ARENA_LIVE_TRADING:
            raise LiveTradingRefusedError(
                f"Account {account.name!r} is marked live but ARENA_LIVE_TRADING=1 is not set: "
                "refusing to trade real money."
            )
        from outcomes.brokers.alpaca import AlpacaBroker  # alpaca-py takes a second to import

        return AlpacaBroker(account, live=account.live)
    raise BrokerConfigurationError(f"Account {account.name!r} has an unknown broker {account.broker!r}.")
