"""Market data the debates read, and the debates themselves.

A session is the unit of work: it is created ``queued``, claimed by one worker (``running``, with a
lease so a dead worker's session can be reclaimed), and ends ``completed`` with exactly one
consensus (a one-to-one, so never two) or ``failed`` with its reason. Messages, tool calls and the
consensus are records: written once by the debate service, read-only everywhere else.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from agents.models import AgentProfile, Panel, Role
from arena_project.models import TimeStampedModel
from debates.recorded import result_document


class Instrument(TimeStampedModel):
    symbol = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=32, default="embedded", help_text="Where its bars come from.")
    synthetic = models.BooleanField(default=False, help_text="True for generated, not real, price data.")
    bars_version = models.BigIntegerField(
        default=0,
        editable=False,
        help_text="Changed by the database on every write to this instrument's bars, never to a value "
        "it had before: processes that keep bar histories (debates/market/history.py) compare it.",
    )

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=Q(symbol=Upper("symbol")), name="instrument_symbol_upper")
        ]

    def __str__(self) -> str:
        return self.symbol


class Timeframe(models.TextChoices):
    DAY = "1Day", "Daily"
    HOUR = "1Hour", "Hourly"
    MINUTE = "1Min", "Minute"


class Bar(models.Model):
    """One OHLCV bar. Daily bars are keyed by their trading date; ``ts`` orders intraday bars."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="bars")
    timeframe = models.CharField(max_length=8, choices=Timeframe, default=Timeframe.DAY)
    date = models.DateField()
    ts = models.DateTimeField(help_text="Start of the bar (UTC).")
    open = models.DecimalField(max_digits=16, decimal_places=4)
    high = models.DecimalField(max_digits=16, decimal_places=4)
    low = models.DecimalField(max_digits=16, decimal_places=4)
    close = models.DecimalField(max_digits=16, decimal_places=4)
    volume = models.BigIntegerField()
    source = models.CharField(max_length=32, default="embedded")

    class Meta:
        ordering = ["instrument", "timeframe", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "timeframe", "ts"], name="bar_unique_per_ts"),
            models.CheckConstraint(condition=Q(low__gt=0), name="bar_prices_positive"),
            models.CheckConstraint(
                condition=Q(high__gte=F("open"))
                & Q(high__gte=F("close"))
                & Q(low__lte=F("open"))
                & Q(low__lte=F("close")),
                name="bar_high_low_enclose",
            ),
            models.CheckConstraint(condition=Q(volume__gte=0), name="bar_volume_gte_0"),
            models.CheckConstraint(condition=Q(timeframe__in=Timeframe.values), name="bar_timeframe_valid"),
        ]
        indexes = [models.Index(fields=["instrument", "timeframe", "date"], name="bar_instrument_date")]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.timeframe} {self.ts:%Y-%m-%d %H:%M}"


class DebateStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (DebateStatus.COMPLETED, DebateStatus.FAILED, DebateStatus.CANCELLED)


class DebateSession(TimeStampedModel):
    symbol = models.CharField(max_length=16)
    as_of = models.DateField(help_text="The debate sees bars up to and including this date, never later.")
    panel = models.ForeignKey(Panel, on_delete=models.PROTECT, related_name="sessions")
    status = models.CharField(max_length=16, choices=DebateStatus, default=DebateStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="debates"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set by a cancel request; the worker stops at its next safe point and ends cancelled.",
    )
    error = models.TextField(blank=True)
    total_cost_usd = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="Sum of the known costs of its LLM calls."
    )
    unknown_cost_calls = models.PositiveIntegerField(
        default=0, help_text="LLM calls whose cost is unknown (not in total_cost_usd)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DebateStatus.values), name="debatesession_status_valid"
            ),
            models.CheckConstraint(condition=Q(total_cost_usd__gte=0), name="debatesession_cost_gte_0"),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(finished_at__gte=F("started_at")),
                name="debatesession_finished_after_started",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="debatesession_status_created"),
            models.Index(fields=["symbol", "-as_of"], name="debatesession_symbol_asof"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.symbol} as of {self.as_of} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class ValidationStatus(models.TextChoices):
    VALID = "valid", "Valid"
    REPAIRED = "repaired", "Repaired"
    INVALID = "invalid", "Invalid (abstains)"
    FAILED = "failed", "Call failed (abstains)"


class RepairedBy(models.TextChoices):
    NONE = "none", "Not repaired"
    LOCAL = "local", "Local repair"
    MODEL = "model", "Repair model"


class DebateMessage(TimeStampedModel):
    """One agent's answer in one round. An invalid answer is kept, raw, and counts as abstaining."""

    session = models.ForeignKey(DebateSession, on_delete=models.CASCADE, related_name="messages")
    round = models.PositiveSmallIntegerField(default=1, help_text="1 = cheap round, 2 = escalation.")
    role = models.CharField(max_length=32, choices=Role)
    profile = models.ForeignKey(AgentProfile, on_delete=models.PROTECT, related_name="messages")
    stance = models.CharField(max_length=16, blank=True, help_text="Analysts: bullish / bearish / neutral.")
    confidence = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    signals = models.JSONField(default=list, blank=True)
    reasoning = models.TextField(blank=True)
    key_risks = models.JSONField(default=list, blank=True)
    output = models.JSONField(null=True, blank=True, help_text="The validated output, as JSON.")
    raw_output = models.TextField(blank=True, help_text="What the agent actually returned.")
    validation_status = models.CharField(max_length=16, choices=ValidationStatus)
    repaired_by = models.CharField(max_length=8, choices=RepairedBy, default=RepairedBy.NONE)
    validation_error = models.TextField(blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)

    class Meta:
        ordering = ["session", "round", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "round", "role"], name="debatemessage_one_per_role_round"
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                name="debatemessage_confidence_0_1",
            ),
            models.CheckConstraint(
                condition=Q(stance__in=["", "bullish", "bearish", "neutral"]),
                name="debatemessage_stance_valid",
            ),
            models.CheckConstraint(
                condition=Q(validation_status__in=ValidationStatus.values),
                name="debatemessage_validation_status_valid",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="debatemessage_role_valid"),
        ]
        indexes = [models.Index(fields=["profile", "-created_at"], name="debatemessage_profile_created")]

    def __str__(self) -> str:
        return f"{self.session_id}/{self.round}/{self.role}"


class DebateConsensus(TimeStampedModel):
    """The judge's decision. One per session, enforced by the one-to-one key."""

    session = models.OneToOneField(DebateSession, on_delete=models.CASCADE, related_name="consensus")
    judge_profile = models.ForeignKey(AgentProfile, on_delete=models.PROTECT, related_name="consensuses")
    action = models.CharField(max_length=8)
    size = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    confidence = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    rationale = models.TextField()
    risk_checks = models.JSONField(default=list)
    order_intent = models.JSONField(null=True, blank=True)
    agreement_rate = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    valid_analysts = models.PositiveSmallIntegerField()
    escalated = models.BooleanField(default=False, help_text="A second (escalation) round ran.")
    triggers_fired = models.JSONField(
        default=list, blank=True, help_text="Names of the first-round triggers that fired."
    )
    decided_in_round = models.PositiveSmallIntegerField(
        default=1, help_text="The round whose judge decided (2 or 3 after an escalation)."
    )

    class Meta:
        verbose_name_plural = "debate consensuses"
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["buy", "sell", "hold"]), name="consensus_action_valid"
            ),
            models.CheckConstraint(condition=Q(size__gte=0, size__lte=1), name="consensus_size_0_1"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0, confidence__lte=1), name="consensus_confidence_0_1"
            ),
            models.CheckConstraint(
                condition=Q(agreement_rate__gte=0, agreement_rate__lte=1), name="consensus_agreement_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.action} {self.size:.2f}"


class DebateRound(TimeStampedModel):
    """One round of a debate: what it measured, which triggers fired, what escalated, what it cost.

    Round 1 is the cheap round; its ``triggers_fired`` are the triggers that fired there. They caused
    the escalation under the default policy (any trigger escalates); under
    ``escalation_needs_all_triggers`` they escalated only when every switched-on trigger fired (or
    the quorum fell short), so a round-1 list without a round 2 is possible.
    Round 2, when it ran, lists the roles it reran (``escalated_roles``, with the reason and the
    profile used) and whether the judge switched; its ``triggers_fired`` are informational (what
    would still fire on the merged panel), except under the ``staged`` scope, where they are
    evaluated again and, if they still escalate, round 3 reruns the roles round 2 did not (never
    more than three rounds). Written with the final state, in the same transaction.
    """

    session = models.ForeignKey(DebateSession, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    agreement_rate = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    mean_confidence = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    weighted_confidence = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    majority_stance = models.CharField(max_length=16, blank=True)
    high_risk = models.BooleanField(default=False)
    valid_analysts = models.PositiveSmallIntegerField(default=0)
    calls = models.PositiveSmallIntegerField(default=0, help_text="Agent calls made in this round.")
    triggers_fired = models.JSONField(default=list, blank=True)
    escalated_roles = models.JSONField(default=list, blank=True)
    judge_profile = models.ForeignKey(
        AgentProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="judged_rounds"
    )
    judge_switched = models.BooleanField(default=False)
    cost_usd = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="Known cost of this round's calls."
    )
    unknown_cost_calls = models.PositiveSmallIntegerField(
        default=0, help_text="Attempts in this round whose cost is unknown (not in cost_usd)."
    )
    latency_ms = models.PositiveIntegerField(default=0)
    notes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["session", "number"]
        constraints = [
            models.UniqueConstraint(fields=["session", "number"], name="debateround_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1, number__lte=3), name="debateround_number_1_3"),
            models.CheckConstraint(condition=Q(cost_usd__gte=0), name="debateround_cost_gte_0"),
            models.CheckConstraint(
                condition=Q(agreement_rate__isnull=True) | Q(agreement_rate__gte=0, agreement_rate__lte=1),
                name="debateround_agreement_0_1",
            ),
            models.CheckConstraint(
                condition=Q(majority_stance__in=["", "bullish", "bearish", "neutral"]),
                name="debateround_majority_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} round {self.number}"


class ToolCall(TimeStampedModel):
    """One read of market context through the tool router; ``result`` is kept whole for replay.

    Read it through :attr:`result_document`: a bar history is stored in a compact form
    (debates/recorded.py), and older rows in the document form.
    """

    session = models.ForeignKey(DebateSession, on_delete=models.CASCADE, related_name="tool_calls")
    sequence = models.PositiveSmallIntegerField()
    tool = models.CharField(max_length=32)
    arguments = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    result_summary = models.CharField(max_length=300, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["session", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["session", "sequence"], name="toolcall_unique_sequence"),
        ]
        indexes = [models.Index(fields=["tool", "-created_at"], name="toolcall_tool_created")]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.sequence} {self.tool}"

    @property
    def result_document(self) -> Any:
        """The result as the tool returned it, whichever form it was stored in (debates/recorded.py)."""
        return result_document(self.tool, self.result)


class LlmCallPurpose(models.TextChoices):
    ANALYSIS = "analysis", "Analysis"
    JUDGE = "judge", "Judge"
    REPAIR = "repair", "JSON repair"
    ESCALATION = "escalation", "Escalation"
    HEALTH_CHECK = "health_check", "Health check"


class LlmCallStatus(models.TextChoices):
    OK = "ok", "OK"
    TIMEOUT = "timeout", "Timed out"
    RATE_LIMITED = "rate_limited", "Rate limited"
    PROVIDER_ERROR = "provider_error", "Provider error"
    INVALID_OUTPUT = "invalid_output", "Invalid output"
    REPAIRED = "repaired", "Output repaired locally"
    BUDGET_DENIED = "budget_denied", "Budget denied (not sent)"


class LlmCall(TimeStampedModel):
    """The cost ledger: one row per attempt to call a model (retries, fallbacks, repairs, denials).

    Tokens are as the provider reported them (``NULL`` when it reported none); ``cost_usd`` is
    ``NULL`` when unknown (no usage, no price, or a timeout the provider may have billed), never a
    silent 0. ``error`` is redacted before it is stored. Written by the debate service (and by
    ``check_providers``), never edited.
    """

    profile = models.ForeignKey(AgentProfile, on_delete=models.PROTECT, related_name="llm_calls")
    session = models.ForeignKey(
        DebateSession, null=True, blank=True, on_delete=models.CASCADE, related_name="llm_calls"
    )
    message = models.ForeignKey(
        DebateMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="llm_calls"
    )
    role = models.CharField(max_length=32, choices=Role)
    purpose = models.CharField(max_length=16, choices=LlmCallPurpose)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    attempt = models.PositiveSmallIntegerField(help_text="1, 2, ... within one agent's answer.")
    status = models.CharField(max_length=16, choices=LlmCallStatus)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_write_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=10, null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    provider_request_id = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=LlmCallStatus.values), name="llmcall_status_valid"),
            models.CheckConstraint(
                condition=Q(purpose__in=LlmCallPurpose.values), name="llmcall_purpose_valid"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="llmcall_role_valid"),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="llmcall_attempt_gte_1"),
            models.CheckConstraint(
                condition=Q(cost_usd__isnull=True) | Q(cost_usd__gte=0), name="llmcall_cost_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(message__isnull=True) | Q(session__isnull=False),
                name="llmcall_message_has_session",
            ),
        ]
        indexes = [
            # Leaderboards: calls and spend per profile over a time window.
            models.Index(fields=["profile", "created_at"], name="llmcall_profile_created"),
            models.Index(fields=["status", "created_at"], name="llmcall_status_created"),
            models.Index(fields=["session", "attempt"], name="llmcall_session_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} {self.purpose} #{self.attempt} {self.status}"
