"""Agent profiles (who answers, on which model, at what price) and panels (who sits in a debate)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from arena_project.models import TimeStampedModel


class Role(models.TextChoices):
    BULL = "bull", "Bull"
    BEAR = "bear", "Bear"
    RISK_MANAGER = "risk_manager", "Risk manager"
    TECHNICAL_ANALYST = "technical_analyst", "Technical analyst"
    FUNDAMENTAL_ANALYST = "fundamental_analyst", "Fundamental analyst"
    JUDGE = "judge", "Judge"


ANALYST_ROLES: tuple[str, ...] = (
    Role.BULL,
    Role.BEAR,
    Role.RISK_MANAGER,
    Role.TECHNICAL_ANALYST,
    Role.FUNDAMENTAL_ANALYST,
)


class Provider(models.TextChoices):
    RULES = "rules", "Rules (deterministic, offline, free)"
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server"


class Tier(models.TextChoices):
    CHEAP = "cheap", "Cheap"
    POWERFUL = "powerful", "Powerful"


class Mode(models.TextChoices):
    CHEAP_FIRST = "cheap_first", "Cheap first"
    ESCALATION_ONLY = "escalation_only", "Escalation only"


class BudgetPeriod(models.TextChoices):
    DAY = "day", "Per day"
    WEEK = "week", "Per week"
    MONTH = "month", "Per month"
    TOTAL = "total", "In total"


class AgentProfile(TimeStampedModel):
    """One agent: a role played by a model of a provider, with a tier, a mode and a spending cap.

    Keys are never stored here: a provider reads its key from the environment at call time
    (``api_key_env`` names the variable for OpenAI-compatible servers).
    """

    name = models.CharField(max_length=100, unique=True)
    role = models.CharField(max_length=32, choices=Role)
    provider = models.CharField(max_length=32, choices=Provider, default=Provider.RULES)
    model = models.CharField(max_length=200, help_text="Provider model id, e.g. gpt-4o-mini or rules-v1.")
    tier = models.CharField(max_length=16, choices=Tier, default=Tier.CHEAP)
    mode = models.CharField(max_length=32, choices=Mode, default=Mode.CHEAP_FIRST)
    budget_usd = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Hard spending cap per budget period; empty means no cap.",
    )
    budget_period = models.CharField(max_length=16, choices=BudgetPeriod, default=BudgetPeriod.DAY)
    active = models.BooleanField(default=True)
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text="Call parameters: temperature, max_tokens, timeout_s, and provider-specific options.",
    )
    base_url = models.URLField(
        blank=True,
        help_text=(
            "API address. Required for OpenAI-compatible servers (ending in /v1); optional for OpenAI "
            "(ending in /v1) and Anthropic (without /v1), e.g. for a proxy."
        ),
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text=(
            "NAME of the environment variable holding the key (never the key itself). Defaults to "
            "OPENAI_API_KEY / ANTHROPIC_API_KEY; empty for an OpenAI-compatible server means no key."
        ),
    )
    price_input_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    price_output_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    description = models.TextField(blank=True)
    fallbacks = models.ManyToManyField(
        "self",
        through="ProfileFallback",
        through_fields=("profile", "fallback"),
        symmetrical=False,
        related_name="+",
        blank=True,
        help_text="Profiles tried in order when this one fails at the provider.",
    )
    repair_profile = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="repairs_for",
        help_text="A cheap profile asked to fix this profile's output when it does not validate.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="agentprofile_role_valid"),
            models.CheckConstraint(
                condition=Q(provider__in=Provider.values), name="agentprofile_provider_valid"
            ),
            models.CheckConstraint(condition=Q(tier__in=Tier.values), name="agentprofile_tier_valid"),
            models.CheckConstraint(condition=Q(mode__in=Mode.values), name="agentprofile_mode_valid"),
            models.CheckConstraint(
                condition=Q(budget_period__in=BudgetPeriod.values), name="agentprofile_budget_period_valid"
            ),
            models.CheckConstraint(
                condition=Q(budget_usd__isnull=True) | Q(budget_usd__gte=0), name="agentprofile_budget_gte_0"
            ),
        ]
        indexes = [models.Index(fields=["role", "tier", "active"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Provider-specific rules (see :mod:`agents.validation`), reported per field."""
        from agents.validation import profile_errors

        errors = profile_errors(self)
        if errors:
            raise ValidationError(errors)


class ProfileFallback(models.Model):
    """One entry of a profile's ordered fallback list: ``fallback`` is tried at ``position``."""

    profile = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="fallback_links")
    fallback = models.ForeignKey(AgentProfile, on_delete=models.PROTECT, related_name="fallback_for")
    position = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["profile", "position"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "position"], name="profilefallback_unique_position"),
            models.UniqueConstraint(fields=["profile", "fallback"], name="profilefallback_unique_fallback"),
            models.CheckConstraint(condition=~Q(profile=F("fallback")), name="profilefallback_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} -> {self.fallback_id} (#{self.position})"

    def clean(self) -> None:
        from agents.validation import fallback_errors

        if self.profile_id and self.fallback_id:
            errors = fallback_errors(self.profile, [self.fallback])
            if errors:
                raise ValidationError({"fallback": errors})


class BudgetWindow(models.Model):
    """A profile's spending in one budget period: settled spend plus open worst-case reservations.

    ``spent_usd + reserved_usd`` never exceeds the profile's cap: a reservation is one conditional
    UPDATE that only succeeds while it fits (see :mod:`agents.budget`).
    """

    profile = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="budget_windows")
    period = models.CharField(max_length=16, choices=BudgetPeriod)
    starts_at = models.DateTimeField(help_text="Start of the period (UTC); 1970-01-01 for 'total'.")
    spent_usd = models.DecimalField(max_digits=18, decimal_places=10, default=Decimal(0))
    reserved_usd = models.DecimalField(max_digits=18, decimal_places=10, default=Decimal(0))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["profile", "-starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "period", "starts_at"], name="budgetwindow_one_per_period"
            ),
            models.CheckConstraint(condition=Q(spent_usd__gte=0), name="budgetwindow_spent_gte_0"),
            models.CheckConstraint(condition=Q(reserved_usd__gte=0), name="budgetwindow_reserved_gte_0"),
            models.CheckConstraint(
                condition=Q(period__in=BudgetPeriod.values), name="budgetwindow_period_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} {self.period} from {self.starts_at:%Y-%m-%d}"


class BudgetReservation(models.Model):
    """One call's worst-case hold on a window, until it is settled to the actual cost.

    A reservation left open past ``expires_at`` (its process died mid-call) is charged at its worst
    case when expired: the call may have been billed, and the cap must hold regardless.
    """

    window = models.ForeignKey(BudgetWindow, on_delete=models.CASCADE, related_name="reservations")
    amount_usd = models.DecimalField(max_digits=18, decimal_places=10)
    charged_usd = models.DecimalField(max_digits=18, decimal_places=10, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_usd__gte=0), name="budgetreservation_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(charged_usd__isnull=True) | Q(charged_usd__gte=0),
                name="budgetreservation_charged_gte_0",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(settled_at__isnull=True),
                name="budgetreservation_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.window_id}: {self.amount_usd} ({'settled' if self.settled_at else 'open'})"


class PanelStage(models.TextChoices):
    ANALYST = "analyst", "First-round analyst"
    ESCALATION = "escalation", "Escalation analyst"
    JUDGE = "judge", "Judge"
    ESCALATION_JUDGE = "escalation_judge", "Escalation judge"


class EscalationScope(models.TextChoices):
    DISSENTERS = "dissenters", "Disagreeing, low-confidence or failed roles"
    PANEL = "panel", "The whole panel"
    NONE = "none", "No analysts (switch the judge only)"
    STAGED = "staged", "Dissenters first, then the rest of the panel if the triggers still fire"


class ConfidenceMeasure(models.TextChoices):
    MEAN = "mean", "Mean confidence"
    WEIGHTED = "weighted", "Confidence-weighted mean (sum c^2 / sum c)"


#: The policy fields of a panel, in the order forms and the API show them.
PANEL_POLICY_FIELDS: tuple[str, ...] = (
    "escalate_on_low_agreement",
    "agreement_threshold",
    "escalate_on_low_confidence",
    "confidence_measure",
    "confidence_threshold",
    "escalate_on_high_risk",
    "escalate_on_quorum_shortfall",
    "escalate_on_low_judge_confidence",
    "judge_confidence_threshold",
    "escalation_needs_all_triggers",
    "escalation_scope",
    "low_confidence_floor",
    "escalation_switches_judge",
)

_THRESHOLDS = ("agreement_threshold", "confidence_threshold", "judge_confidence_threshold")
_UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class Panel(TimeStampedModel):
    """Who debates, and the policy: limits, escalation triggers and what an escalation reruns.

    Every trigger has its own switch and threshold and fires when its value is strictly below the
    threshold (docs/coordinator.md). A panel with every switch off never escalates: that is the
    default, so a panel behaves as it did before it had a policy until someone turns one on.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    call_timeout_s = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.1)], help_text="Per-call timeout, seconds."
    )
    deadline_s = models.FloatField(
        default=120.0,
        validators=[MinValueValidator(0.1)],
        help_text="The whole debate, escalation included, must end within this many seconds.",
    )
    quorum = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Minimum valid analyst outputs."
    )

    escalate_on_low_agreement = models.BooleanField(
        default=False, help_text="Escalate when the agreement rate is below the agreement threshold."
    )
    agreement_threshold = models.FloatField(default=0.6, validators=_UNIT)
    escalate_on_low_confidence = models.BooleanField(
        default=False, help_text="Escalate when the analysts' confidence measure is below its threshold."
    )
    confidence_measure = models.CharField(
        max_length=16, choices=ConfidenceMeasure, default=ConfidenceMeasure.MEAN
    )
    confidence_threshold = models.FloatField(default=0.5, validators=_UNIT)
    escalate_on_high_risk = models.BooleanField(
        default=False, help_text="Escalate when the risk manager flags high risk."
    )
    escalate_on_quorum_shortfall = models.BooleanField(
        default=False,
        help_text="Escalate (instead of failing) when fewer analysts than the quorum gave a valid answer.",
    )
    escalate_on_low_judge_confidence = models.BooleanField(
        default=False,
        help_text="Escalate when the first-round judge's confidence is below its threshold "
        "(or it gave no valid decision).",
    )
    judge_confidence_threshold = models.FloatField(default=0.3, validators=_UNIT)
    escalation_needs_all_triggers = models.BooleanField(
        default=False,
        help_text="Escalate only when every switched-on trigger fires (a quorum shortfall still "
        "escalates alone); off, any one trigger escalates.",
    )
    escalation_scope = models.CharField(
        max_length=16,
        choices=EscalationScope,
        default=EscalationScope.DISSENTERS,
        help_text="Which analyst roles an escalation reruns with their escalation profiles.",
    )
    low_confidence_floor = models.FloatField(
        default=0.3,
        validators=_UNIT,
        help_text="With the 'dissenters' scope, a role answering below this confidence is rerun too.",
    )
    escalation_switches_judge = models.BooleanField(
        default=True, help_text="An escalated debate is decided by the escalation judge."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="panel_one_default",
                violation_error_message="Another panel is the default already; unset it there first.",
            ),
            models.CheckConstraint(condition=Q(quorum__lte=5), name="panel_quorum_lte_5"),
            models.CheckConstraint(condition=Q(quorum__gte=1), name="panel_quorum_gte_1"),
            models.CheckConstraint(condition=Q(call_timeout_s__gt=0), name="panel_call_timeout_gt_0"),
            models.CheckConstraint(
                condition=Q(deadline_s__gte=F("call_timeout_s")), name="panel_deadline_gte_call_timeout"
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}__gte": 0.0, f"{name}__lte": 1.0}), name=f"panel_{name}_0_1"
                )
                for name in (*_THRESHOLDS, "low_confidence_floor")
            ),
            models.CheckConstraint(
                condition=Q(escalation_scope__in=EscalationScope.values), name="panel_escalation_scope_valid"
            ),
            models.CheckConstraint(
                condition=Q(confidence_measure__in=ConfidenceMeasure.values),
                name="panel_confidence_measure_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def escalates(self) -> bool:
        """Whether any trigger is switched on."""
        return any(
            (
                self.escalate_on_low_agreement,
                self.escalate_on_low_confidence,
                self.escalate_on_high_risk,
                self.escalate_on_quorum_shortfall,
                self.escalate_on_low_judge_confidence,
            )
        )

    def clean(self) -> None:
        """Rules between fields (seat-dependent rules live in agents.panel_services)."""
        errors: dict[str, str] = {}
        if self.call_timeout_s and self.deadline_s and self.deadline_s < self.call_timeout_s:
            errors["deadline_s"] = "The debate deadline must be at least the per-call timeout."
        task_timeout = settings.Q_CLUSTER.get("timeout")
        if task_timeout and self.deadline_s and self.deadline_s >= task_timeout:
            errors["deadline_s"] = (
                f"The debate deadline must be shorter than the worker's task timeout ({task_timeout} s, "
                "ARENA_Q_TIMEOUT), or the worker is killed mid-debate."
            )
        if (
            self.escalates
            and self.escalation_scope == EscalationScope.NONE
            and not self.escalation_switches_judge
        ):
            errors["escalation_scope"] = (
                "With scope 'none' and no judge switch an escalation would change nothing: "
                "choose a scope, switch the judge, or turn the triggers off."
            )
        if errors:
            raise ValidationError(errors)


class PanelSeat(models.Model):
    """A profile seated in a panel for one role at one stage (at most one per role and stage)."""

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="seats")
    stage = models.CharField(max_length=32, choices=PanelStage)
    role = models.CharField(max_length=32, choices=Role)
    profile = models.ForeignKey(AgentProfile, on_delete=models.PROTECT, related_name="seats")

    class Meta:
        ordering = ["panel", "stage", "role"]
        constraints = [
            models.UniqueConstraint(fields=["panel", "stage", "role"], name="panelseat_one_per_role_stage"),
            models.CheckConstraint(condition=Q(stage__in=PanelStage.values), name="panelseat_stage_valid"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="panelseat_role_valid"),
            models.CheckConstraint(
                condition=(
                    Q(stage__in=[PanelStage.JUDGE, PanelStage.ESCALATION_JUDGE], role=Role.JUDGE)
                    | (Q(stage__in=[PanelStage.ANALYST, PanelStage.ESCALATION]) & ~Q(role=Role.JUDGE))
                ),
                name="panelseat_judge_only_in_judge_stages",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.panel} / {self.stage} / {self.role}: {self.profile}"

    def clean(self) -> None:
        if self.profile_id and self.profile.role != self.role:
            raise ValidationError(
                {"profile": f"Profile {self.profile} plays {self.profile.role}, not {self.role}."}
            )
        if (
            self.profile_id
            and self.stage in (PanelStage.ANALYST, PanelStage.JUDGE)
            and self.profile.mode == Mode.ESCALATION_ONLY
        ):
            raise ValidationError(
                {"profile": "An escalation-only profile can only sit in an escalation stage."}
            )


class PanelPlanVersion(models.Model):
    """One row: a number the database changes on every write to what panel plans are built from -
    seats, profiles (their fallbacks and repair profiles included) and fallback links - whoever
    writes them, and never to a value it had before (triggers: migration agents/0006).

    Processes keep the plans they build under it (``agents.selectors.panel_plan_build``), and a
    debate reads it in the same query as its session and panel, so a kept plan costs no statement
    and a changed seat or profile is seen by the next debate. One number for every panel: a profile
    can sit in any panel, directly or as a fallback, and these writes are rare (budgets are spent in
    ``BudgetWindow``, not on the profile)."""

    version = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="panelplanversion_one_row")]

    def __str__(self) -> str:
        return f"panel plans version {self.version}"
