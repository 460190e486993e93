"""Writes and workflows of the outcomes app (accounts, the order pipeline, settlement).

Import from here: ``from outcomes.services import trading_account_create, decision_trade_open``.
"""

from outcomes.services.accounts import (
    TradingAccountSource,
    account_for_session,
    session_account_attach,
    session_accounts_attach,
    trading_account_create,
    trading_account_default_get,
    trading_account_source,
    trading_account_sources,
)
from outcomes.services.opening import (
    IntentSpec,
    decision_trade_open,
    decision_trade_open_enqueue,
    decisions_trade_open,
    order_intent_create,
)
from outcomes.services.orders import (
    broker_order_cancel,
    broker_order_sync,
    intents_recover,
    open_orders_sync,
    order_intent_claim,
    order_intent_submit,
    order_submission_deferred,
)
from outcomes.services.settlement import UpdateSummary, outcome_settle, outcomes_preview, outcomes_update

__all__ = [
    "IntentSpec",
    "TradingAccountSource",
    "UpdateSummary",
    "account_for_session",
    "broker_order_cancel",
    "broker_order_sync",
    "decision_trade_open",
    "decision_trade_open_enqueue",
    "decisions_trade_open",
    "intents_recover",
    "open_orders_sync",
    "order_intent_claim",
    "order_intent_create",
    "order_intent_submit",
    "order_submission_deferred",
    "outcome_settle",
    "outcomes_preview",
    "outcomes_update",
    "session_account_attach",
    "session_accounts_attach",
    "trading_account_create",
    "trading_account_default_get",
    "trading_account_source",
    "trading_account_sources",
]
