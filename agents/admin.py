from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from agents.models import AgentProfile, BudgetReservation, BudgetWindow, Panel, PanelSeat, ProfileFallback
from agents.panel_services import SeatInput, panel_seats_validate
from agents.services import check_summary, profile_duplicate, profiles_check, profiles_set_active
from arena_project.errors import ArenaError

TEST_CALL_LIMIT = 20  # profiles per "test call" (each is a real, billed provider call)
TEST_CALL_TIMEOUT_S = 20.0


class ProfileFallbackInline(admin.TabularInline):
    """The ordered fallback list; each row is checked for self-reference, role and cycles."""

    model = ProfileFallback
    fk_name = "profile"
    extra = 0
    autocomplete_fields = ["fallback"]
    ordering = ["position"]


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    # A base URL typed without a scheme means https (Django 6's default; explicit here, so 5.2 agrees).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "role",
        "provider",
        "model",
        "tier",
        "mode",
        "budget_usd",
        "budget_period",
        "active",
    ]
    list_filter = ["role", "provider", "tier", "mode", "active"]
    search_fields = ["name", "model", "description"]
    ordering = ["name"]
    autocomplete_fields = ["repair_profile"]
    list_select_related = ["repair_profile"]
    inlines = [ProfileFallbackInline]
    fieldsets = [
        (None, {"fields": ["name", "role", "description", "active"]}),
        ("Model", {"fields": ["provider", "model", "tier", "mode", "params", "base_url", "api_key_env"]}),
        ("Resilience", {"fields": ["repair_profile"]}),
        (
            "Budget and prices",
            {"fields": ["budget_usd", "budget_period", "price_input_per_mtok", "price_output_per_mtok"]},
        ),
    ]
    actions = ["activate", "deactivate", "duplicate", "test_call"]

    @admin.action(description="Activate selected profiles", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[AgentProfile]) -> None:
        changed = profiles_set_active(profiles=queryset, active=True)
        self.message_user(request, f"Activated {changed} profile(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected profiles", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[AgentProfile]) -> None:
        changed = profiles_set_active(profiles=queryset, active=False)
        self.message_user(request, f"Deactivated {changed} profile(s).", messages.SUCCESS)

    @admin.action(description="Duplicate selected profiles (inactive copies)", permissions=["add"])
    def duplicate(self, request: HttpRequest, queryset: QuerySet[AgentProfile]) -> None:
        for profile in queryset.order_by("name"):
            try:
                copy = profile_duplicate(profile=profile)
            except (ArenaError, ValidationError) as exc:
                self.message_user(
                    request, f"{profile.name}: not duplicated: {self._reason(exc)}", messages.ERROR
                )
            else:
                self.message_user(
                    request, f"{profile.name}: copied as {copy.name} (inactive).", messages.SUCCESS
                )

    @admin.action(
        description="Test call: one tiny structured call per selected profile", permissions=["change"]
    )
    def test_call(self, request: HttpRequest, queryset: QuerySet[AgentProfile]) -> None:
        profiles = list(queryset.order_by("name")[: TEST_CALL_LIMIT + 1])
        if len(profiles) > TEST_CALL_LIMIT:
            self.message_user(
                request, f"Select at most {TEST_CALL_LIMIT} profiles for a test call.", messages.ERROR
            )
            return
        for result in profiles_check(profiles=profiles, timeout_s=TEST_CALL_TIMEOUT_S):
            level = messages.SUCCESS if result.valid else messages.ERROR
            self.message_user(request, check_summary(result), level)

    @staticmethod
    def _reason(exc: Exception) -> str:
        return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


class _ReadOnly:
    """Budget windows and reservations are the cap's bookkeeping: changed only by agents.budget."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BudgetWindow)
class BudgetWindowAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["profile", "period", "starts_at", "spent_usd", "reserved_usd", "cap", "updated_at"]
    list_filter = ["period"]
    search_fields = ["profile__name"]
    list_select_related = ["profile"]
    date_hierarchy = "starts_at"

    @admin.display(description="Cap (current)")
    def cap(self, obj: BudgetWindow) -> str:
        return "—" if obj.profile.budget_usd is None else str(obj.profile.budget_usd)


@admin.register(BudgetReservation)
class BudgetReservationAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["window", "amount_usd", "charged_usd", "created_at", "expires_at", "settled_at"]
    list_select_related = ["window", "window__profile"]
    search_fields = ["window__profile__name"]
    date_hierarchy = "created_at"


class PanelSeatFormSet(BaseInlineFormSet):
    """Validates the seats as a whole against the panel's policy, as the staff API does."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        seats = [
            SeatInput(stage=data["stage"], role=data["role"], profile=data["profile"])
            for form in self.forms
            if (data := getattr(form, "cleaned_data", None))
            and not data.get("DELETE")
            and data.get("profile")
        ]
        try:
            panel_seats_validate(self.instance, seats)
        except ValidationError as exc:
            raise ValidationError(
                [
                    f"{field.replace('_', ' ')}: {message}"
                    for field, messages in exc.message_dict.items()
                    for message in messages
                ]
            ) from exc


class PanelSeatInline(admin.TabularInline):
    model = PanelSeat
    formset = PanelSeatFormSet
    extra = 0
    autocomplete_fields = ["profile"]


@admin.register(Panel)
class PanelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "is_default",
        "quorum",
        "call_timeout_s",
        "deadline_s",
        "triggers",
        "escalation_scope",
        "escalation_switches_judge",
        "updated_at",
    ]
    list_filter = ["is_default", "escalation_scope", "escalate_on_low_agreement", "escalate_on_high_risk"]
    search_fields = ["name", "description"]
    ordering = ["name"]
    inlines = [PanelSeatInline]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_default"]}),
        ("Limits", {"fields": ["call_timeout_s", "deadline_s", "quorum"]}),
        (
            "Escalation triggers",
            {
                "description": "Each switched-on trigger fires when its value is strictly below its "
                "threshold (docs/coordinator.md). With every switch off the panel never escalates.",
                "fields": [
                    ("escalate_on_low_agreement", "agreement_threshold"),
                    ("escalate_on_low_confidence", "confidence_measure", "confidence_threshold"),
                    "escalate_on_high_risk",
                    "escalate_on_quorum_shortfall",
                    ("escalate_on_low_judge_confidence", "judge_confidence_threshold"),
                    "escalation_needs_all_triggers",
                ],
            },
        ),
        (
            "What an escalation does",
            {"fields": ["escalation_scope", "low_confidence_floor", "escalation_switches_judge"]},
        ),
    ]

    @admin.display(description="Triggers")
    def triggers(self, obj: Panel) -> str:
        parts = []
        if obj.escalate_on_low_agreement:
            parts.append(f"agreement < {obj.agreement_threshold:g}")
        if obj.escalate_on_low_confidence:
            parts.append(f"{obj.confidence_measure} confidence < {obj.confidence_threshold:g}")
        if obj.escalate_on_high_risk:
            parts.append("high risk")
        if obj.escalate_on_quorum_shortfall:
            parts.append("quorum shortfall")
        if obj.escalate_on_low_judge_confidence:
            parts.append(f"judge confidence < {obj.judge_confidence_threshold:g}")
        if not parts:
            return "— (never escalates)"
        return ("all of: " if obj.escalation_needs_all_triggers else "") + ", ".join(parts)
