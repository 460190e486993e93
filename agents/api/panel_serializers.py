"""Serializers of the staff panels API (no logic: agents.panel_services validates and writes)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.api.schema import name_field, text_field
from agents.models import (
    PANEL_POLICY_FIELDS,
    AgentProfile,
    ConfidenceMeasure,
    EscalationScope,
    Panel,
    PanelSeat,
    PanelStage,
    Role,
)
from arena_project.serializers import StrictInputSerializer


def _task_timeout() -> float:
    return float(settings.Q_CLUSTER.get("timeout") or 3600)


@extend_schema_field({"type": "number", "minimum": 0.1, "maximum": _task_timeout(), "exclusiveMaximum": True})
class DeadlineField(serializers.FloatField):
    """A debate's deadline: below the worker's task timeout (ARENA_Q_TIMEOUT), or the worker would
    be killed mid-debate - stated in the schema, not only by the model's clean()."""

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        limit = _task_timeout()
        if value >= limit:
            raise serializers.ValidationError(
                f"Must be below the worker's task timeout ({limit:g} s, ARENA_Q_TIMEOUT)."
            )
        return value


def _unit() -> serializers.FloatField:
    """A threshold: a number from 0 to 1."""
    return serializers.FloatField(required=False, min_value=0.0, max_value=1.0)


class PanelSeatInputSerializer(StrictInputSerializer):
    stage = serializers.ChoiceField(choices=PanelStage.choices)
    role = serializers.ChoiceField(choices=Role.choices)
    profile = serializers.PrimaryKeyRelatedField(
        queryset=AgentProfile.objects.all(), help_text="Agent profile id."
    )


class PanelInputSerializer(StrictInputSerializer):
    """A panel and its policy. Create and PUT need ``name`` and ``seats``; PATCH takes any subset.

    ``seats``, when given, replace all of the panel's seats. The seats' rules (see ``seats``), the
    existence of their profiles and the uniqueness of ``name`` are checked by the service: a 400
    naming the field.
    """

    name = name_field(max_length=100)
    description = text_field(required=False, allow_blank=True, max_length=2000)
    is_default = serializers.BooleanField(required=False)
    call_timeout_s = serializers.FloatField(required=False, min_value=0.1, max_value=3600)
    deadline_s = DeadlineField(
        required=False,
        min_value=0.1,
        help_text="Seconds for the whole debate: at least call_timeout_s, below the worker's task timeout.",
    )
    quorum = serializers.IntegerField(required=False, min_value=1, max_value=5)
    escalate_on_low_agreement = serializers.BooleanField(required=False)
    agreement_threshold = _unit()
    escalate_on_low_confidence = serializers.BooleanField(required=False)
    confidence_measure = serializers.ChoiceField(required=False, choices=ConfidenceMeasure.choices)
    confidence_threshold = _unit()
    escalate_on_high_risk = serializers.BooleanField(required=False)
    escalate_on_quorum_shortfall = serializers.BooleanField(required=False)
    escalate_on_low_judge_confidence = serializers.BooleanField(required=False)
    judge_confidence_threshold = _unit()
    escalation_needs_all_triggers = serializers.BooleanField(required=False)
    escalation_scope = serializers.ChoiceField(required=False, choices=EscalationScope.choices)
    low_confidence_floor = _unit()
    escalation_switches_judge = serializers.BooleanField(required=False)
    seats = serializers.ListField(
        child=PanelSeatInputSerializer(),
        min_length=2,
        max_length=24,
        help_text=(
            "Replaces every seat. At least a first-round analyst and a judge; one seat per stage and "
            "role; judges only in judge stages; each profile plays its seat's role; quorum <= the "
            "first-round analysts; escalation triggers need seats an escalation could use."
        ),
    )


class PanelSeatOutputSerializer(serializers.ModelSerializer):
    profile_name = serializers.CharField(source="profile.name")
    provider = serializers.CharField(source="profile.provider")
    model = serializers.CharField(source="profile.model")
    tier = serializers.CharField(source="profile.tier")
    mode = serializers.CharField(source="profile.mode")
    active = serializers.BooleanField(source="profile.active")

    class Meta:
        model = PanelSeat
        fields = [
            "id",
            "stage",
            "role",
            "profile",
            "profile_name",
            "provider",
            "model",
            "tier",
            "mode",
            "active",
        ]


class PanelOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    escalates = serializers.BooleanField(help_text="Whether any escalation trigger is switched on.")
    seats = PanelSeatOutputSerializer(many=True)

    class Meta:
        model = Panel
        fields = [
            "id",
            "url",
            "name",
            "description",
            "is_default",
            "call_timeout_s",
            "deadline_s",
            "quorum",
            "escalates",
            *PANEL_POLICY_FIELDS,
            "seats",
            "created_at",
            "updated_at",
        ]

    def get_url(self, obj: Panel) -> str:
        return f"/api/admin/arena/panels/{obj.pk}"
