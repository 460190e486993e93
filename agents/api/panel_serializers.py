"""Serializers of the staff panels API (no logic: agents.panel_services validates and writes)."""

from __future__ import annotations

from rest_framework import serializers

from agents.models import (
    AgentProfile,
    ConfidenceMeasure,
    EscalationScope,
    Panel,
    PanelSeat,
    PanelStage,
    Role,
)
from arena_project.serializers import StrictInputSerializer


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

    ``seats``, when given, replace all of the panel's seats.
    """

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    is_default = serializers.BooleanField(required=False)
    call_timeout_s = serializers.FloatField(required=False, min_value=0.1, max_value=3600)
    deadline_s = serializers.FloatField(required=False, min_value=0.1, max_value=3600)
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
    escalation_scope = serializers.ChoiceField(required=False, choices=EscalationScope.choices)
    low_confidence_floor = _unit()
    escalation_switches_judge = serializers.BooleanField(required=False)
    seats = serializers.ListField(child=PanelSeatInputSerializer(), max_length=24)


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
            "escalate_on_low_agreement",
            "agreement_threshold",
            "escalate_on_low_confidence",
            "confidence_measure",
            "confidence_threshold",
            "escalate_on_high_risk",
            "escalate_on_quorum_shortfall",
            "escalate_on_low_judge_confidence",
            "judge_confidence_threshold",
            "escalation_scope",
            "low_confidence_floor",
            "escalation_switches_judge",
            "seats",
            "created_at",
            "updated_at",
        ]

    def get_url(self, obj: Panel) -> str:
        return f"/api/admin/arena/panels/{obj.pk}"
