"""Trading accounts, the order pipeline and the scored outcome of every decision.

The chain a decision leaves behind, each link queryable both ways:

    DebateConsensus (decision) -> OrderIntent (+ RiskCheck rows) -> BrokerOrder -> Fill rows
                               \\-> Outcome

``TradingAccount`` is the trader's settings (broker, sizing, risk limits, kill switch) and, for the
simulated broker, its book (``cash`` plus ``SimPosition`` rows). ``SimOrder``/``SimFill`` are the
simulated broker's *own* records, kept apart from ``BrokerOrder``/``Fill`` (our view of any broker)
on purpose: the simulated broker then behaves like a remote one, so a crash between "the broker
accepted the order" and "we recorded it" is a real state that retries must and do recover from.
Records (intents, checks, orders, fills, outcomes) are written by services only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from arena_project.models import TimeStampedModel
from debates.models import DebateConsensus, DebateSession

ZERO = Decimal(0)
ONE = Decimal(1)


class BrokerKind(models.TextChoices):
    SIMULATED = "simulated", "Simulated (bars table)"
    ALPACA = "alpaca", "Alpaca"


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"


class TimeInForce(models.TextChoices):
    DAY = "day", "Day"
    GTC = "gtc", "Good till cancelled"


def _fraction_validators() -> list[Any]:
    return [MinValueValidator(ZERO), MaxValueValidator(ONE)]


def _money(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(max_digits=18, decimal_places=4, **kwargs)


class TradingAccount(TimeStampedModel):
    """A trader's settings: which broker, how orders are sized, and the limits no order may break.

    For the simulated broker it also holds the book's cash (positions are ``SimPosition`` rows);
    an Alpaca account's cash and positions live at Alpaca. Keys are never stored: AlpacaBroker
    reads them from the environment at call time.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    broker = models.CharField(max_length=16, choices=BrokerKind, default=BrokerKind.SIMULATED)
    live = models.BooleanField(
        default=False,
        help_text="Alpaca only: trade real money. Also needs ARENA_LIVE_TRADING=1 in the environment.",
    )
    is_default = models.BooleanField(
        default=False, help_text="The account a debate trades for when nothing else is attached to it."
    )
    active = models.BooleanField(default=True)
    starting_cash = _money(default=Decimal(100_000), validators=[MinValueValidator(ZERO)])
    cash = _money(
        default=Decimal(100_000),
        validators=[MinValueValidator(ZERO)],
        help_text="Simulated broker's cash (ignored for Alpaca accounts).",
    )
    # Sizing: target notional = judge size x (sizing_notional, or sizing_fraction x equity).
    sizing_fraction = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        default=Decimal("0.10"),
        validators=_fraction_validators(),
        help_text="Fraction of equity a full-size (size 1.0) decision puts in one order.",
    )
    sizing_notional = _money(
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text="Fixed notional for a full-size decision; overrides the fraction when set.",
    )
    # Risk limits: checked, never silently clipped. Empty means no limit.
    max_position_notional = _money(
        null=True, blank=True, validators=[MinValueValidator(ZERO)], help_text="Max value held per symbol."
    )
    max_order_notional = _money(null=True, blank=True, validators=[MinValueValidator(ZERO)])
    max_daily_notional = _money(
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text="Max notional of orders approved per trading day (the decisions' as-of date).",
    )
    allowed_symbols = models.JSONField(
        default=list, blank=True, help_text='Upper-case symbols, e.g. ["ACME", "BOLT"]; empty allows any.'
    )
    allow_short = models.BooleanField(default=False, help_text="May sell more than is held.")
    kill_switch = models.BooleanField(default=False, help_text="On: every new order is refused.")
    # Simulated execution.
    slippage_bps = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal(5), validators=[MinValueValidator(ZERO)]
    )
    commission_per_order = _money(default=ZERO, validators=[MinValueValidator(ZERO)])
    commission_bps = models.DecimalField(
        max_digits=8, decimal_places=2, default=ZERO, validators=[MinValueValidator(ZERO)]
    )
    max_bar_participation = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        null=True,
        blank=True,
        validators=_fraction_validators(),
        help_text="Simulated fills take at most this fraction of a bar's volume (partial fills).",
    )
    # Scoring.
    outcome_horizon_bars = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(260)]
    )
    flat_band = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=Decimal("0.001"),
        validators=[MinValueValidator(ZERO)],
        help_text="A trade whose return is within ± this band is flat.",
    )
    hold_band = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=Decimal("0.02"),
        validators=[MinValueValidator(ZERO)],
        help_text="A hold wins if the price moved less than ± this over the horizon.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="tradingaccount_one_default"
            ),
            models.CheckConstraint(
                condition=Q(broker__in=BrokerKind.values), name="tradingaccount_broker_valid"
            ),
            models.CheckConstraint(
                condition=Q(live=False) | Q(broker=BrokerKind.ALPACA), name="tradingaccount_live_only_alpaca"
            ),
            models.CheckConstraint(condition=Q(cash__gte=0), name="tradingaccount_cash_gte_0"),
            models.CheckConstraint(
                condition=Q(sizing_fraction__gte=0, sizing_fraction__lte=1),
                name="tradingaccount_sizing_fraction_0_1",
            ),
            models.CheckConstraint(
                condition=Q(outcome_horizon_bars__gte=1), name="tradingaccount_horizon_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Settings a form or a service can get wrong in ways the column types cannot catch."""
        symbols = self.allowed_symbols
        if not isinstance(symbols, list) or not all(isinstance(s, str) and s.strip() for s in symbols):
            raise ValidationError({"allowed_symbols": 'A list of symbols, e.g. ["ACME", "BOLT"].'})
        self.allowed_symbols = sorted({s.strip().upper() for s in symbols})
        if self.live and self.broker != BrokerKind.ALPACA:
            raise ValidationError({"live": "Only an Alpaca account can trade live."})


class SessionAccount(models.Model):
    """The account a debate trades for (a competition attaches one); without it, the default account."""

    session = models.OneToOneField(DebateSession, on_delete=models.CASCADE, related_name="trading_account")
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="sessions")

    def __str__(self) -> str:
        return f"session {self.session_id} -> {self.account_id}"


class IntentStatus(models.TextChoices):
    APPROVED = "approved", "Approved (awaiting submission)"
    REJECTED = "rejected", "Rejected by a risk check"
    SUBMITTING = "submitting", "Being submitted"
    SUBMITTED = "submitted", "At the broker"
    BROKER_REJECTED = "broker_rejected", "Refused by the broker"
    FAILED = "failed", "Gave up"


OPEN_INTENT_STATUSES = (IntentStatus.APPROVED, IntentStatus.SUBMITTING, IntentStatus.SUBMITTED)


class OrderIntent(TimeStampedModel):
    """What a decision wants traded for one account, sized and risk-checked before any broker sees it.

    ``client_order_id`` is fixed when the intent is created (it carries the decision and intent ids
    and a random nonce, so ids from a reset database can never match an old broker order): every
    submission attempt sends the same one, which is what makes submission idempotent.
    """

    consensus = models.ForeignKey(DebateConsensus, on_delete=models.CASCADE, related_name="order_intents")
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="intents")
    symbol = models.CharField(max_length=16)
    side = models.CharField(max_length=4, choices=Side)
    quantity = models.DecimalField(max_digits=18, decimal_places=6)
    order_type = models.CharField(max_length=8, choices=OrderType, default=OrderType.MARKET)
    limit_price = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    time_in_force = models.CharField(max_length=4, choices=TimeInForce, default=TimeInForce.DAY)
    as_of = models.DateField(help_text="The decision's date: orders go to the bar after it.")
    size_fraction = models.DecimalField(
        max_digits=6, decimal_places=4, help_text="The judge's size, 0..1 of a full-size position."
    )
    reference_price = models.DecimalField(
        max_digits=16, decimal_places=4, null=True, blank=True, help_text="Close on the as-of date."
    )
    notional = _money(default=ZERO, help_text="quantity x reference price (the limit price for limits).")
    status = models.CharField(max_length=16, choices=IntentStatus, default=IntentStatus.APPROVED)
    rejection_reason = models.TextField(blank=True)
    client_order_id = models.CharField(max_length=48, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["consensus", "account"], name="orderintent_one_per_decision"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="orderintent_side_valid"),
            models.CheckConstraint(
                condition=Q(order_type__in=OrderType.values), name="orderintent_order_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(time_in_force__in=TimeInForce.values), name="orderintent_tif_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=IntentStatus.values), name="orderintent_status_valid"
            ),
            # A bad intent is kept, with its reasons, but only ever as rejected.
            models.CheckConstraint(
                condition=Q(status=IntentStatus.REJECTED) | Q(quantity__gt=0),
                name="orderintent_quantity_gt_0_unless_rejected",
            ),
            models.CheckConstraint(
                condition=Q(order_type=OrderType.MARKET, limit_price__isnull=True)
                | Q(order_type=OrderType.LIMIT, limit_price__gt=0)
                | Q(status=IntentStatus.REJECTED),
                name="orderintent_limit_price_matches_type",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status"], name="orderintent_account_status"),
            models.Index(fields=["account", "as_of"], name="orderintent_account_asof"),
            models.Index(fields=["status", "lease_expires_at"], name="orderintent_status_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity.normalize():f} {self.symbol} ({self.status})"

    @property
    def decision_id(self) -> int:
        return self.consensus_id


class RiskCheck(models.Model):
    """One pre-trade check on one intent: its verdict and why."""

    intent = models.ForeignKey(OrderIntent, on_delete=models.CASCADE, related_name="risk_checks")
    sequence = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=40)
    passed = models.BooleanField()
    detail = models.CharField(max_length=300)

    class Meta:
        ordering = ["intent", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["intent", "sequence"], name="riskcheck_unique_sequence"),
        ]
        indexes = [models.Index(fields=["name", "passed"], name="riskcheck_name_passed")]

    def __str__(self) -> str:
        return f"{self.name}: {'pass' if self.passed else 'FAIL'}"


class BrokerOrderStatus(models.TextChoices):
    NEW = "new", "New (open)"
    PARTIALLY_FILLED = "partially_filled", "Partially filled (open)"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    REJECTED = "rejected", "Rejected"


OPEN_ORDER_STATUSES = (BrokerOrderStatus.NEW, BrokerOrderStatus.PARTIALLY_FILLED)


class BrokerOrder(TimeStampedModel):
    """Our record of the order a broker holds for an intent: the one link, one per intent."""

    intent = models.OneToOneField(OrderIntent, on_delete=models.PROTECT, related_name="broker_order")
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="broker_orders")
    broker = models.CharField(max_length=16, choices=BrokerKind)
    broker_order_id = models.CharField(max_length=64)
    client_order_id = models.CharField(max_length=48, unique=True)
    symbol = models.CharField(max_length=16)
    side = models.CharField(max_length=4, choices=Side)
    quantity = models.DecimalField(max_digits=18, decimal_places=6)
    order_type = models.CharField(max_length=8, choices=OrderType)
    limit_price = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    time_in_force = models.CharField(max_length=4, choices=TimeInForce)
    status = models.CharField(max_length=20, choices=BrokerOrderStatus, default=BrokerOrderStatus.NEW)
    filled_qty = models.DecimalField(
        max_digits=18, decimal_places=6, default=ZERO, help_text="Sum of this order's fills."
    )
    filled_avg_price = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, help_text="decision_id, intent_id, session_id.")
    raw = models.JSONField(default=dict, blank=True, help_text="The broker's last answer for this order.")
    submitted_at = models.DateTimeField()
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["broker", "broker_order_id"], name="brokerorder_unique_broker_id"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BrokerOrderStatus.values), name="brokerorder_status_valid"
            ),
            models.CheckConstraint(condition=Q(filled_qty__gte=0), name="brokerorder_filled_qty_gte_0"),
            models.CheckConstraint(
                condition=Q(filled_qty__lte=F("quantity")), name="brokerorder_filled_lte_quantity"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "broker"], name="brokerorder_status_broker"),
            models.Index(fields=["account", "symbol", "status"], name="brokerorder_account_symbol"),
        ]

    def __str__(self) -> str:
        return f"{self.broker}:{self.broker_order_id} {self.side} {self.symbol} ({self.status})"


class Fill(models.Model):
    """One execution (possibly partial) of a broker order, as the broker reported it."""

    broker_order = models.ForeignKey(BrokerOrder, on_delete=models.PROTECT, related_name="fills")
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="fills")
    broker_fill_id = models.CharField(max_length=100)
    symbol = models.CharField(max_length=16)
    side = models.CharField(max_length=4, choices=Side)
    quantity = models.DecimalField(max_digits=18, decimal_places=6)
    price = models.DecimalField(max_digits=16, decimal_places=4)
    commission = _money(default=ZERO)
    filled_at = models.DateTimeField()
    trade_date = models.DateField(help_text="The trading day of the fill (New York date for Alpaca).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["filled_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["broker_order", "broker_fill_id"], name="fill_unique_per_order"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fill_quantity_gt_0"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_price_gt_0"),
            models.CheckConstraint(condition=Q(commission__gte=0), name="fill_commission_gte_0"),
        ]
        indexes = [models.Index(fields=["account", "symbol", "filled_at"], name="fill_account_symbol_time")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity.normalize():f} {self.symbol} @ {self.price}"


class OutcomeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    WIN = "win", "Win"
    LOSS = "loss", "Loss"
    FLAT = "flat", "Flat"


class OutcomeBasis(models.TextChoices):
    NONE = "", "Not settled"
    REALISED = "realised", "Realised PnL (closed by the horizon)"
    MARK_TO_MARKET = "mark_to_market", "Marked to market at the horizon"
    FORWARD_RETURN = "forward_return", "Forward return avoided or missed (not traded)"


class Outcome(TimeStampedModel):
    """How one decision turned out: pending until judgeable, then win, loss or flat (docs/outcomes.md)."""

    consensus = models.OneToOneField(DebateConsensus, on_delete=models.CASCADE, related_name="outcome")
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="outcomes")
    intent = models.OneToOneField(
        OrderIntent, null=True, blank=True, on_delete=models.PROTECT, related_name="outcome"
    )
    status = models.CharField(max_length=8, choices=OutcomeStatus, default=OutcomeStatus.PENDING)
    basis = models.CharField(max_length=16, choices=OutcomeBasis, default=OutcomeBasis.NONE, blank=True)
    hypothetical = models.BooleanField(
        default=False, help_text="PnL of a trade that did not happen (hold, rejected or unfilled)."
    )
    horizon_bars = models.PositiveSmallIntegerField()
    horizon_date = models.DateField(null=True, blank=True)
    quantity = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    entry_price = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    exit_price = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    pnl_amount = _money(null=True, blank=True)
    pnl_return = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    rule = models.CharField(max_length=300, blank=True, help_text="The rule that decided the status.")
    detail = models.JSONField(default=dict, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=OutcomeStatus.values), name="outcome_status_valid"),
            models.CheckConstraint(condition=Q(basis__in=OutcomeBasis.values), name="outcome_basis_valid"),
            models.CheckConstraint(
                condition=Q(status=OutcomeStatus.PENDING, settled_at__isnull=True)
                | (
                    ~Q(status=OutcomeStatus.PENDING)
                    & Q(settled_at__isnull=False, pnl_return__isnull=False, horizon_date__isnull=False)
                ),
                name="outcome_settled_iff_not_pending",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="outcome_status_created"),
            models.Index(fields=["account", "status"], name="outcome_account_status"),
        ]

    def __str__(self) -> str:
        return f"decision {self.consensus_id}: {self.status}"


# --- the simulated broker's own records ---------------------------------------------------------


class SimOrder(TimeStampedModel):
    """An order as the simulated broker holds it (its id is the broker order id we link to)."""

    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="sim_orders")
    client_order_id = models.CharField(max_length=48)
    symbol = models.CharField(max_length=16)
    side = models.CharField(max_length=4, choices=Side)
    quantity = models.DecimalField(max_digits=18, decimal_places=6)
    order_type = models.CharField(max_length=8, choices=OrderType)
    limit_price = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    time_in_force = models.CharField(max_length=4, choices=TimeInForce)
    as_of = models.DateField(help_text="Placed after this bar: fills start with the next bar.")
    status = models.CharField(max_length=20, choices=BrokerOrderStatus, default=BrokerOrderStatus.NEW)
    status_reason = models.CharField(max_length=300, blank=True)
    filled_qty = models.DecimalField(max_digits=18, decimal_places=6, default=ZERO)
    filled_avg_price = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    last_bar_date = models.DateField(null=True, blank=True, help_text="Last bar this order was matched to.")
    metadata = models.JSONField(default=dict)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "simulated order"
        constraints = [
            models.UniqueConstraint(fields=["account", "client_order_id"], name="simorder_unique_client_id"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="simorder_quantity_gt_0"),
            models.CheckConstraint(
                condition=Q(filled_qty__gte=0, filled_qty__lte=F("quantity")), name="simorder_filled_in_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BrokerOrderStatus.values), name="simorder_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["account", "status"], name="simorder_account_status")]

    def __str__(self) -> str:
        return f"sim #{self.pk} {self.side} {self.quantity.normalize():f} {self.symbol} ({self.status})"


class SimFill(models.Model):
    order = models.ForeignKey(SimOrder, on_delete=models.PROTECT, related_name="fills")
    quantity = models.DecimalField(max_digits=18, decimal_places=6)
    price = models.DecimalField(max_digits=16, decimal_places=4)
    commission = _money(default=ZERO)
    bar_date = models.DateField()
    filled_at = models.DateTimeField()

    class Meta:
        ordering = ["order", "id"]
        verbose_name = "simulated fill"
        constraints = [
            models.UniqueConstraint(fields=["order", "bar_date"], name="simfill_one_per_bar"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="simfill_quantity_gt_0"),
            models.CheckConstraint(condition=Q(price__gt=0), name="simfill_price_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} @ {self.price} on {self.bar_date}"


class SimPosition(models.Model):
    """A holding in a simulated book: signed quantity (negative = short) and average entry price."""

    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="sim_positions")
    symbol = models.CharField(max_length=16)
    quantity = models.DecimalField(max_digits=18, decimal_places=6)
    average_price = models.DecimalField(max_digits=16, decimal_places=4)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "symbol"]
        verbose_name = "simulated position"
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="simposition_unique_symbol"),
            models.CheckConstraint(condition=~Q(quantity=0), name="simposition_quantity_not_0"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.quantity.normalize():f} @ {self.average_price}"
