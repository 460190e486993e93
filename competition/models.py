"""Trader profiles, competition runs between them, their scores, equity curves, and the leaderboard rollup.

A run pits trader profiles against each other on the same symbols and period (a backtest) or on a
schedule (paper). Each participant of a run is a :class:`CompetitionEntry`: one per trader, plus the
two baselines every run carries (buy-and-hold and a seeded random trader), each trading its own
fresh book. The engine records every decision (:class:`CompetitionDecision`), the close-of-day equity
(:class:`EquityPoint`) and, when the run ends, one :class:`CompetitionScore` per entry.

Decisions, equity points and scores are records: written by the engine only, read-only elsewhere.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from agents.models import AgentProfile, Panel
from arena_project.models import TimeStampedModel
from debates.models import DebateSession
from outcomes.models import TradingAccount

ZERO = Decimal(0)
ONE = Decimal(1)


def _money(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=18, decimal_places=4, **kwargs)  # type: ignore[arg-type]


def _usd(**kwargs: object) -> models.DecimalField:
    """LLM dollars to six decimals (a rules call costs 0, a cheap model call fractions of a cent)."""
    return models.DecimalField(max_digits=14, decimal_places=6, **kwargs)  # type: ignore[arg-type]


class RebalanceFrequency(models.TextChoices):
    DAILY = "daily", "Every trading day"
    WEEKLY = "weekly", "First trading day of each week"
    MONTHLY = "monthly", "First trading day of each month"


class TraderBroker(models.TextChoices):
    SIMULATED = "simulated", "Simulated (bars table)"
    ALPACA_PAPER = "alpaca_paper", "Alpaca paper"


class TraderProfile(TimeStampedModel):
    """A trader: the panel it debates with, what it may trade, how it sizes, and the limits it keeps.

    Sizing and limits use the outcomes app's trading-account semantics (a full-size decision puts
    ``sizing_fraction`` of equity, or ``sizing_notional``, into one order; limits are refused, never
    clipped): each run gives the trader a fresh trading account built from these settings.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    panel = models.ForeignKey(Panel, on_delete=models.PROTECT, related_name="traders")
    symbols = models.JSONField(
        default=list, blank=True, help_text='Universe, upper-case, e.g. ["ACME", "BOLT"]; empty = any.'
    )
    starting_capital = _money(default=Decimal(100_000), validators=[MinValueValidator(Decimal(1))])
    sizing_fraction = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        default=Decimal("0.10"),
        validators=[MinValueValidator(ZERO), MaxValueValidator(ONE)],
        help_text="Fraction of equity a full-size (size 1.0) decision puts in one order.",
    )
    sizing_notional = _money(
        null=True, blank=True, validators=[MinValueValidator(ZERO)], help_text="Overrides the fraction."
    )
    max_position_notional = _money(null=True, blank=True, validators=[MinValueValidator(ZERO)])
    max_order_notional = _money(null=True, blank=True, validators=[MinValueValidator(ZERO)])
    max_daily_notional = _money(null=True, blank=True, validators=[MinValueValidator(ZERO)])
    allow_short = models.BooleanField(default=False)
    slippage_bps = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal(5), validators=[MinValueValidator(ZERO)]
    )
    commission_bps = models.DecimalField(
        max_digits=8, decimal_places=2, default=ZERO, validators=[MinValueValidator(ZERO)]
    )
    rebalance_frequency = models.CharField(
        max_length=16, choices=RebalanceFrequency, default=RebalanceFrequency.DAILY
    )
    broker = models.CharField(max_length=16, choices=TraderBroker, default=TraderBroker.SIMULATED)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(starting_capital__gt=0), name="traderprofile_capital_gt_0"),
            models.CheckConstraint(
                condition=Q(sizing_fraction__gte=0, sizing_fraction__lte=1),
                name="traderprofile_sizing_fraction_0_1",
            ),
            models.CheckConstraint(
                condition=Q(rebalance_frequency__in=RebalanceFrequency.values),
                name="traderprofile_rebalance_valid",
            ),
            models.CheckConstraint(
                condition=Q(broker__in=TraderBroker.values), name="traderprofile_broker_valid"
            ),
            models.CheckConstraint(
                condition=Q(slippage_bps__gte=0, commission_bps__gte=0), name="traderprofile_costs_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RunMode(models.TextChoices):
    BACKTEST = "backtest", "Backtest"
    PAPER = "paper", "Paper"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_RUN_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class CompetitionRun(TimeStampedModel):
    """One competition: traders (plus the two baselines) on the same symbols and period or schedule.

    Lifecycle: ``queued`` -> ``running`` (claimed by one worker under a lease, renewed every stepped
    day; a long backtest runs in slices, going back to ``queued`` between them) -> ``completed``,
    ``failed`` (with ``error``) or ``cancelled``. ``cost_estimate_usd`` is fixed at creation; a run
    whose estimate exceeds ``budget_usd`` is refused unless ``confirmed``, and an unconfirmed run also
    stops when its actual spend passes the budget.
    """

    name = models.CharField(max_length=200, blank=True)
    mode = models.CharField(max_length=16, choices=RunMode, default=RunMode.BACKTEST)
    status = models.CharField(max_length=16, choices=RunStatus, default=RunStatus.QUEUED)
    traders = models.ManyToManyField(
        TraderProfile, through="CompetitionEntry", through_fields=("run", "trader"), related_name="runs"
    )
    symbols = models.JSONField(default=list, help_text="Upper-case symbols every entry trades.")
    start_date = models.DateField(null=True, blank=True, help_text="Backtest: first day of the period.")
    end_date = models.DateField(
        null=True, blank=True, help_text="Backtest: last day of the period. Paper: stop after this day."
    )
    tick_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Paper: minutes between ticks."
    )
    schedule_name = models.CharField(max_length=100, blank=True, help_text="Paper: the django-q2 schedule.")
    seed = models.BigIntegerField(default=0, help_text="Seeds the random baseline and the bootstrap.")
    budget_usd = _usd(null=True, blank=True, validators=[MinValueValidator(ZERO)])
    cost_estimate_usd = _usd(null=True, blank=True, help_text="Empty when a model's price is unknown.")
    cost_estimate = models.JSONField(default=dict, blank=True, help_text="How the estimate was made.")
    confirmed = models.BooleanField(
        default=False, help_text="Run even though the estimate exceeds the budget (and past it)."
    )
    cost_usd = _usd(default=ZERO, help_text="LLM spend so far.")
    progress = models.FloatField(default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    days_total = models.PositiveIntegerField(default=0)
    days_done = models.PositiveIntegerField(default=0)
    last_date = models.DateField(null=True, blank=True, help_text="The last day every entry has stepped.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="competition_runs",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="competitionrun_status_valid"
            ),
            models.CheckConstraint(condition=Q(mode__in=RunMode.values), name="competitionrun_mode_valid"),
            models.CheckConstraint(
                condition=Q(mode=RunMode.PAPER) | Q(start_date__isnull=False, end_date__isnull=False),
                name="competitionrun_backtest_has_period",
            ),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(start_date__lte=F("end_date")),
                name="competitionrun_start_lte_end",
            ),
            models.CheckConstraint(
                condition=Q(budget_usd__isnull=True) | Q(budget_usd__gte=0),
                name="competitionrun_budget_gte_0",
            ),
            models.CheckConstraint(condition=Q(cost_usd__gte=0), name="competitionrun_cost_gte_0"),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=1), name="competitionrun_progress_0_1"
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="competitionrun_status_created")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name or self.mode} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES


class EntryKind(models.TextChoices):
    TRADER = "trader", "Trader profile"
    BUY_AND_HOLD = "buy_and_hold", "Baseline: buy and hold"
    RANDOM = "random", "Baseline: seeded random trader"


BASELINE_KINDS = (EntryKind.BUY_AND_HOLD, EntryKind.RANDOM)


class CompetitionEntry(models.Model):
    """One participant of a run (a trader, or a baseline) with its own book: the M2M's through model.

    ``account`` is the outcomes trading account the entry trades in, created for the run from the
    trader's settings (baselines get one with default sizing and no limits), so no two runs or
    entries ever share a book.
    """

    run = models.ForeignKey(CompetitionRun, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=16, choices=EntryKind, default=EntryKind.TRADER)
    trader = models.ForeignKey(
        TraderProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    label = models.CharField(max_length=120, help_text="The trader's name at the time, or the baseline's.")
    account = models.OneToOneField(
        TradingAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="competition_entry",
    )
    last_date = models.DateField(null=True, blank=True, help_text="Last day this entry has fully stepped.")
    decisions = models.PositiveIntegerField(default=0)
    cost_usd = _usd(default=ZERO)

    class Meta:
        ordering = ["run", "id"]
        verbose_name_plural = "competition entries"
        constraints = [
            models.UniqueConstraint(
                fields=["run", "trader"],
                condition=Q(trader__isnull=False),
                name="competitionentry_one_per_trader",
            ),
            models.UniqueConstraint(
                fields=["run", "kind"],
                condition=~Q(kind=EntryKind.TRADER),
                name="competitionentry_one_per_baseline",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=EntryKind.values), name="competitionentry_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind=EntryKind.TRADER, trader__isnull=False)
                | (~Q(kind=EntryKind.TRADER) & Q(trader__isnull=True)),
                name="competitionentry_trader_iff_kind_trader",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.label}"

    @property
    def is_baseline(self) -> bool:
        return self.kind != EntryKind.TRADER


class CompetitionDecision(models.Model):
    """What one entry decided for one symbol on one day, and the debate behind it (traders only).

    Unique per (entry, symbol, date): a day stepped again after a crash reuses the decision (and
    its debate) instead of debating twice.
    """

    entry = models.ForeignKey(CompetitionEntry, on_delete=models.CASCADE, related_name="decision_rows")
    symbol = models.CharField(max_length=16)
    date = models.DateField()
    session = models.OneToOneField(
        DebateSession, null=True, blank=True, on_delete=models.PROTECT, related_name="competition_decision"
    )
    action = models.CharField(
        max_length=8, blank=True, help_text="buy / sell / hold; empty if the debate failed."
    )
    size = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)  # the trader leaderboard's window

    class Meta:
        ordering = ["entry", "date", "symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["entry", "symbol", "date"], name="competitiondecision_unique_day"
            ),
            models.CheckConstraint(
                condition=Q(action__in=["", "buy", "sell", "hold"]), name="competitiondecision_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry_id} {self.symbol} {self.date}: {self.action or '—'}"


class EquityPoint(models.Model):
    """The entry's book at one day's close: the equity curve is these rows in date order."""

    entry = models.ForeignKey(CompetitionEntry, on_delete=models.CASCADE, related_name="equity_points")
    date = models.DateField()
    equity = _money()
    cash = _money()
    gross_exposure = _money(help_text="Sum of |position value| at the close.")
    cost_usd = _usd(default=ZERO, help_text="Cumulative LLM spend up to this day.")

    class Meta:
        ordering = ["entry", "date"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "date"], name="equitypoint_unique_day"),
            models.CheckConstraint(condition=Q(gross_exposure__gte=0), name="equitypoint_exposure_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.entry_id} {self.date}: {self.equity}"


class CompetitionScore(models.Model):
    """An entry's scores for a run, each rate with its sample size and a 95 % interval.

    Returns are fractions (0.05 = 5 %). ``alpha_pp`` is the total return above the run's buy-and-hold
    baseline in percentage points; ``cost_per_alpha_usd`` is LLM dollars per such point, and empty
    (undefined, not infinite) when alpha <= 0. ``distinguishable`` is False when the total-return
    interval overlaps either baseline's (docs/competition.md: the baseline rule).
    """

    entry = models.OneToOneField(CompetitionEntry, on_delete=models.CASCADE, related_name="score")
    run = models.ForeignKey(CompetitionRun, on_delete=models.CASCADE, related_name="scores")
    days = models.PositiveIntegerField(help_text="Daily returns behind the metrics.")
    total_return = models.FloatField()
    total_return_low = models.FloatField(null=True, blank=True)
    total_return_high = models.FloatField(null=True, blank=True)
    annualised_return = models.FloatField(null=True, blank=True)
    sharpe = models.FloatField(null=True, blank=True)
    sharpe_low = models.FloatField(null=True, blank=True)
    sharpe_high = models.FloatField(null=True, blank=True)
    sortino = models.FloatField(null=True, blank=True)
    max_drawdown = models.FloatField(help_text="Worst peak-to-trough fall, as a negative fraction.")
    win_days = models.PositiveIntegerField(default=0)
    active_days = models.PositiveIntegerField(default=0, help_text="Days with a non-zero return.")
    win_rate = models.FloatField(null=True, blank=True)
    win_rate_low = models.FloatField(null=True, blank=True)
    win_rate_high = models.FloatField(null=True, blank=True)
    trades = models.PositiveIntegerField(default=0, help_text="Fills.")
    decisions = models.PositiveIntegerField(default=0)
    exposure = models.FloatField(help_text="Mean gross exposure / equity at the close.")
    final_equity = _money()
    llm_cost_usd = _usd(default=ZERO)
    llm_cost_unknown_calls = models.PositiveIntegerField(default=0, help_text="Calls whose price is unknown.")
    alpha_pp = models.FloatField(null=True, blank=True)
    cost_per_alpha_usd = _usd(null=True, blank=True)
    rank = models.PositiveSmallIntegerField()
    distinguishable = models.BooleanField(
        default=False, help_text="False: interval overlaps a baseline's (not distinguishable from it)."
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "rank", "entry"]
        constraints = [
            models.CheckConstraint(condition=Q(rank__gte=1), name="competitionscore_rank_gte_1"),
            models.CheckConstraint(
                condition=Q(cost_per_alpha_usd__isnull=True) | Q(alpha_pp__gt=0),
                name="competitionscore_cost_per_alpha_needs_alpha",
            ),
            models.CheckConstraint(condition=Q(llm_cost_usd__gte=0), name="competitionscore_cost_gte_0"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} #{self.rank}: {self.entry_id}"


class LeaderboardGrain(models.TextChoices):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


class LeaderboardDaily(models.Model):
    """Per agent profile, per UTC day (or hour, or month), per symbol (``*`` = all symbols): the sums
    the leaderboard adds up.

    ``grain`` says what a row covers: a ``day``; one ``hour`` of a recent day (the last
    ``HOURLY_DAYS`` days: a rolling window's first day is partial); or a ``month`` (``day`` is its
    first day; the sum of its day rows, so a long window adds a dozen rows rather than hundreds).
    Rows with a ``trader`` instead of a profile hold a trader profile's sums (its competition
    decisions and their debates' ledger); rows with neither hold the baseline sums (every decision,
    however many profiles took part).
    A rollup of the debate messages, their outcomes and the cost ledger, rebuilt day by day by
    ``leaderboard_rollup_refresh`` (a django-q2 schedule) up to the current hour; once it exists the
    leaderboard reads only this table (one grouped query), so its answer equals the raw
    aggregation's as of the last refresh (tested). Field meanings: ``competition.aggregates``.
    """

    profile = models.ForeignKey(
        AgentProfile, null=True, blank=True, on_delete=models.CASCADE, related_name="leaderboard_days"
    )
    trader = models.ForeignKey(
        TraderProfile, null=True, blank=True, on_delete=models.CASCADE, related_name="leaderboard_days"
    )
    day = models.DateField()
    grain = models.CharField(max_length=5, choices=LeaderboardGrain, default=LeaderboardGrain.DAY)
    hour = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(23)], help_text="UTC hour of an hour row; 0 otherwise."
    )
    symbol = models.CharField(max_length=16, help_text="'*' for all symbols together.")
    decisions = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    settled = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    pnl_usd = _money(default=ZERO)
    alpha_sum = models.FloatField(default=0.0)
    alpha_n = models.PositiveIntegerField(default=0)
    directional = models.PositiveIntegerField(default=0, help_text="Settled calls with a direction.")
    hits = models.PositiveIntegerField(default=0)
    brier_n = models.PositiveIntegerField(default=0)
    brier_sum = models.FloatField(default=0.0)
    brier_sq_sum = models.FloatField(default=0.0)
    confidence_n = models.PositiveIntegerField(default=0)
    confidence_sum = models.FloatField(default=0.0)
    calls = models.PositiveIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=10, default=ZERO)
    latency_ms_sum = models.BigIntegerField(default=0)
    unknown_cost_calls = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day", "grain", "hour", "profile", "symbol"]
        verbose_name_plural = "leaderboard days"
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "grain", "day", "hour", "symbol"],
                condition=Q(profile__isnull=False),
                name="leaderboarddaily_unique_profile_bucket",
            ),
            models.UniqueConstraint(
                fields=["trader", "grain", "day", "hour", "symbol"],
                condition=Q(trader__isnull=False),
                name="leaderboarddaily_unique_trader_bucket",
            ),
            models.UniqueConstraint(
                fields=["grain", "day", "hour", "symbol"],
                condition=Q(profile__isnull=True, trader__isnull=True),
                name="leaderboarddaily_unique_baseline_bucket",
            ),
            models.CheckConstraint(
                condition=Q(profile__isnull=True) | Q(trader__isnull=True),
                name="leaderboarddaily_profile_or_trader",
            ),
            models.CheckConstraint(
                condition=Q(grain__in=LeaderboardGrain.values), name="leaderboarddaily_grain_valid"
            ),
            models.CheckConstraint(
                condition=Q(hour__gte=0, hour__lte=23) & (Q(grain=LeaderboardGrain.HOUR) | Q(hour=0)),
                name="leaderboarddaily_hour_valid",
            ),
        ]
        # The leaderboard reads one symbol (or '*'): the month, day and hour rows of a window, each
        # kind a contiguous range of this index, grouped by profile.
        indexes = [
            models.Index(fields=["symbol", "grain", "day", "hour"], name="leaderboarddaily_read"),
        ]

    def __str__(self) -> str:
        when = {"hour": f"{self.day} {self.hour:02d}h", "month": f"{self.day:%Y-%m}"}.get(
            self.grain, str(self.day)
        )
        who = (
            f"agent {self.profile_id}"
            if self.profile_id
            else f"trader {self.trader_id}"
            if self.trader_id
            else "all"
        )
        return f"{who} {when} {self.symbol}"


class LeaderboardRollupState(models.Model):
    """The one row saying how far the rollup is complete, and when it was last refreshed."""

    key = models.CharField(max_length=16, unique=True, default="agents")
    complete_through = models.DateField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    watermark = models.DateTimeField(
        null=True, blank=True, help_text="Source rows changed after this are picked up by the next refresh."
    )

    def __str__(self) -> str:
        return f"{self.key}: complete through {self.complete_through}"


class Leaderboard(LeaderboardRollupState):
    """No table of its own: gives the leaderboard a page in the admin (see ``LeaderboardAdmin``)."""

    class Meta:
        proxy = True
        verbose_name = "leaderboard"
        verbose_name_plural = "leaderboard"
