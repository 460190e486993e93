"""Input and output serializers of the debates and market APIs (no logic: services decide)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from arena_project.serializers import StrictInputSerializer
from debates.extensions import session_sections
from debates.models import (
    Bar,
    DebateConsensus,
    DebateMessage,
    DebateRound,
    DebateSession,
    Instrument,
    LlmCall,
    ToolCall,
)


class DebateSessionCreateInputSerializer(StrictInputSerializer):
    symbol = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9.\-]{0,15}$", max_length=16)
    as_of = serializers.DateField(required=False, help_text="Defaults to the symbol's last bar date.")
    panel = serializers.CharField(
        required=False, max_length=100, help_text="Panel name; default panel if omitted."
    )


class DebateSessionCancelInputSerializer(StrictInputSerializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Recorded as the session's error."
    )


class LlmCallOutputSerializer(serializers.ModelSerializer):
    """One ledger row: one attempt (a retry, a fallback, a repair call or a budget denial)."""

    profile = serializers.CharField(source="profile.name")
    cost_usd = serializers.DecimalField(
        max_digits=16, decimal_places=10, allow_null=True, help_text="null = unknown (never a silent 0)."
    )

    class Meta:
        model = LlmCall
        fields = [
            "id",
            "attempt",
            "purpose",
            "profile",
            "role",
            "provider",
            "model",
            "status",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "cost_usd",
            "latency_ms",
            "provider_request_id",
            "prompt_version",
            "error",
            "created_at",
        ]


def _token_sum(calls: list[LlmCall], field: str) -> int:
    return sum(getattr(call, field) or 0 for call in calls)


class DebateMessageOutputSerializer(serializers.ModelSerializer):
    profile = serializers.CharField(source="profile.name")
    tier = serializers.CharField(source="profile.tier")
    provider = serializers.CharField(source="profile.provider")
    model = serializers.CharField(source="profile.model")
    calls = LlmCallOutputSerializer(many=True, source="llm_calls", help_text="Every attempt, in order.")
    input_tokens = serializers.SerializerMethodField()
    output_tokens = serializers.SerializerMethodField()
    cached_tokens = serializers.SerializerMethodField()
    call_status = serializers.SerializerMethodField(
        help_text="Status of the attempt that produced the answer."
    )

    def get_input_tokens(self, obj: DebateMessage) -> int:
        return _token_sum(list(obj.llm_calls.all()), "input_tokens")

    def get_output_tokens(self, obj: DebateMessage) -> int:
        return _token_sum(list(obj.llm_calls.all()), "output_tokens")

    def get_cached_tokens(self, obj: DebateMessage) -> int:
        return _token_sum(list(obj.llm_calls.all()), "cached_tokens")

    def get_call_status(self, obj: DebateMessage) -> str | None:
        calls = [c for c in obj.llm_calls.all() if c.purpose != "repair"]
        return calls[-1].status if calls else None

    class Meta:
        model = DebateMessage
        fields = [
            "id",
            "round",
            "role",
            "profile",
            "provider",
            "model",
            "tier",
            "stance",
            "confidence",
            "signals",
            "reasoning",
            "key_risks",
            "output",
            "raw_output",
            "validation_status",
            "repaired_by",
            "validation_error",
            "prompt_version",
            "latency_ms",
            "cost_usd",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "call_status",
            "calls",
            "created_at",
        ]


class ToolCallOutputSerializer(serializers.ModelSerializer):
    # The tool's result as it returned it: a bar history is stored compactly (debates/recorded.py),
    # and old rows the long way; the API shows both as the same document.
    result = serializers.JSONField(source="result_document", read_only=True, allow_null=True)

    class Meta:
        model = ToolCall
        fields = [
            "sequence",
            "tool",
            "arguments",
            "result_summary",
            "result",
            "latency_ms",
            "error",
            "created_at",
        ]


class DebateConsensusOutputSerializer(serializers.ModelSerializer):
    judge_profile = serializers.CharField(source="judge_profile_id")

    class Meta:
        model = DebateConsensus
        fields = [
            "action",
            "size",
            "confidence",
            "rationale",
            "risk_checks",
            "order_intent",
            "agreement_rate",
            "valid_analysts",
            "escalated",
            "triggers_fired",
            "decided_in_round",
            "judge_profile",
            "created_at",
        ]


class TriggerFiringOutputSerializer(serializers.Serializer):
    trigger = serializers.CharField()
    value = serializers.JSONField(help_text="The measured value (a number, 'high', or null).")
    threshold = serializers.FloatField(allow_null=True)
    detail = serializers.CharField()


class EscalatedRoleOutputSerializer(serializers.Serializer):
    role = serializers.CharField()
    reason = serializers.CharField()
    profile = serializers.CharField(help_text="The escalation profile that answered.")


class DebateRoundOutputSerializer(serializers.ModelSerializer):
    judge_profile = serializers.CharField(source="judge_profile.name", allow_null=True, default=None)
    triggers_fired = TriggerFiringOutputSerializer(many=True)
    escalated_roles = EscalatedRoleOutputSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = DebateRound
        fields = [
            "number",
            "agreement_rate",
            "mean_confidence",
            "weighted_confidence",
            "majority_stance",
            "high_risk",
            "valid_analysts",
            "calls",
            "triggers_fired",
            "escalated_roles",
            "judge_profile",
            "judge_switched",
            "cost_usd",
            "latency_ms",
            "notes",
        ]


class EscalationOutputSerializer(serializers.Serializer):
    """The escalation at a glance: why it ran, what it reran, and what it cost."""

    triggers_fired = serializers.ListField(child=serializers.CharField())
    roles = serializers.ListField(
        child=serializers.CharField(), help_text="Every role rerun, in the order of the escalation rounds."
    )
    rounds = serializers.IntegerField(help_text="Escalation rounds run: 1, or 2 under the staged scope.")
    judge_switched = serializers.BooleanField()
    judge_profile = serializers.CharField(allow_null=True)
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)
    first_round_cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)
    latency_ms = serializers.IntegerField()


class DebateSessionOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    panel = serializers.CharField(source="panel.name")
    requested_by = serializers.CharField(source="requested_by.get_username", allow_null=True, default=None)
    consensus = serializers.SerializerMethodField()
    total_cost_complete = serializers.SerializerMethodField(
        help_text="False when some call's cost is unknown: total_cost_usd then sums the known ones only."
    )

    class Meta:
        model = DebateSession
        fields = [
            "id",
            "url",
            "symbol",
            "as_of",
            "status",
            "panel",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "attempts",
            "cancel_requested_at",
            "error",
            "total_cost_usd",
            "total_cost_complete",
            "unknown_cost_calls",
            "consensus",
        ]

    def get_total_cost_complete(self, obj: DebateSession) -> bool:
        return obj.unknown_cost_calls == 0

    def get_url(self, obj: DebateSession) -> str:
        return f"/api/debate/sessions/{obj.pk}"

    @extend_schema_field(DebateConsensusOutputSerializer(allow_null=True))
    def get_consensus(self, obj: DebateSession) -> dict[str, Any] | None:
        consensus = getattr(obj, "consensus", None)
        return DebateConsensusOutputSerializer(consensus).data if consensus else None


class DebateSessionDetailOutputSerializer(DebateSessionOutputSerializer):
    rounds = DebateRoundOutputSerializer(many=True)
    escalation = serializers.SerializerMethodField(
        help_text="Null unless a second round ran; then its triggers, the roles the escalation rounds "
        "reran and their cost."
    )
    messages = DebateMessageOutputSerializer(many=True)
    tool_calls = ToolCallOutputSerializer(many=True)
    sections = serializers.SerializerMethodField(
        help_text="Sections added by other apps, e.g. the order intent and outcome (debates/extensions.py)."
    )

    class Meta(DebateSessionOutputSerializer.Meta):
        fields = [
            *DebateSessionOutputSerializer.Meta.fields,
            "rounds",
            "escalation",
            "messages",
            "tool_calls",
            "sections",
        ]

    @extend_schema_field(EscalationOutputSerializer(allow_null=True))
    def get_escalation(self, obj: DebateSession) -> dict[str, Any] | None:
        rounds = sorted(obj.rounds.all(), key=lambda r: r.number)
        if len(rounds) < 2:
            return None
        first, escalation = rounds[0], rounds[1:]
        return EscalationOutputSerializer(
            {
                "triggers_fired": [f["trigger"] for f in first.triggers_fired],
                "roles": [r["role"] for rnd in escalation for r in rnd.escalated_roles],
                "rounds": len(escalation),
                "judge_switched": escalation[-1].judge_switched,
                "judge_profile": escalation[-1].judge_profile.name if escalation[-1].judge_profile else None,
                "cost_usd": sum((rnd.cost_usd for rnd in escalation), Decimal(0)),
                "first_round_cost_usd": first.cost_usd,
                "latency_ms": sum(rnd.latency_ms for rnd in escalation),
            }
        ).data

    def get_sections(self, obj: DebateSession) -> dict[str, Any]:
        return session_sections(obj)


class InstrumentOutputSerializer(serializers.ModelSerializer):
    first_date = serializers.DateField()
    last_date = serializers.DateField()
    bar_count = serializers.IntegerField()

    class Meta:
        model = Instrument
        fields = ["symbol", "name", "source", "synthetic", "first_date", "last_date", "bar_count"]


class BarQueryInputSerializer(StrictInputSerializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": ["end must not be before start."]})
        return attrs


class BarOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Bar
        fields = ["date", "open", "high", "low", "close", "volume", "source"]
