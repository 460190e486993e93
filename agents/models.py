"""Agent profiles (who answers, on which model, at what price) and panels (who sits in a debate)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

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
    base_url = models.URLField(blank=True, help_text="OpenAI-compatible servers only, ending in /v1.")
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the key."
    )
    price_input_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    price_output_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    description = models.TextField(blank=True)

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
        if not isinstance(self.params, dict):
            raise ValidationError({"params": "Call parameters must be a JSON object."})
        if self.provider == Provider.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError(
                {"base_url": "An OpenAI-compatible profile needs a base URL ending in /v1."}
            )


class PanelStage(models.TextChoices):
    ANALYST = "analyst", "First-round analyst"
    ESCALATION = "escalation", "Escalation analyst"
    JUDGE = "judge", "Judge"
    ESCALATION_JUDGE = "escalation_judge", "Escalation judge"


class Panel(TimeStampedModel):
    """Who debates: a profile per analyst role for the cheap round, escalation seats and the judge."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    call_timeout_s = models.FloatField(default=30.0, validators=[MinValueValidator(0.1)])
    deadline_s = models.FloatField(default=120.0, validators=[MinValueValidator(0.1)])
    quorum = models.PositiveSmallIntegerField(default=3, help_text="Minimum valid analyst outputs.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="panel_one_default"
            ),
            models.CheckConstraint(condition=Q(quorum__lte=5), name="panel_quorum_lte_5"),
        ]

    def __str__(self) -> str:
        return self.name


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
