"""Output serializers of the outcomes API and of the debate session's "trade" section (no logic)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from outcomes.models import BrokerOrder, Fill, OrderIntent, Outcome, RiskCheck, TradingAccount


class TradingAccountSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = TradingAccount
        fields = ["id", "name", "broker", "live"]


class RiskCheckOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskCheck
        fields = ["name", "passed", "detail"]


class FillOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Fill
        fields = ["id", "broker_fill_id", "quantity", "price", "commission", "filled_at", "trade_date"]


class BrokerOrderOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = BrokerOrder
        fields = [
            "id",
            "broker",
            "broker_order_id",
            "client_order_id",
            "symbol",
            "side",
            "quantity",
            "order_type",
            "limit_price",
            "time_in_force",
            "status",
            "status_reason",
            "filled_qty",
            "filled_avg_price",
            "metadata",
            "submitted_at",
            "last_synced_at",
        ]


class OrderIntentOutputSerializer(serializers.ModelSerializer):
    decision_id = serializers.IntegerField(source="consensus_id")

    class Meta:
        model = OrderIntent
        fields = [
            "id",
            "decision_id",
            "symbol",
            "side",
            "quantity",
            "order_type",
            "limit_price",
            "time_in_force",
            "as_of",
            "size_fraction",
            "reference_price",
            "notional",
            "status",
            "rejection_reason",
            "client_order_id",
            "attempts",
            "last_error",
            "submitted_at",
            "created_at",
        ]


class OutcomeOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    decision_id = serializers.IntegerField(source="consensus_id")
    session_id = serializers.IntegerField(source="consensus.session_id")
    session_url = serializers.SerializerMethodField()
    symbol = serializers.CharField(source="consensus.session.symbol")
    as_of = serializers.DateField(source="consensus.session.as_of")
    action = serializers.CharField(source="consensus.action")
    judge_profile = serializers.CharField(source="consensus.judge_profile.name")
    account = TradingAccountSummarySerializer()
    intent = serializers.SerializerMethodField()
    broker_order = serializers.SerializerMethodField()

    class Meta:
        model = Outcome
        fields = [
            "id",
            "url",
            "decision_id",
            "session_id",
            "session_url",
            "symbol",
            "as_of",
            "action",
            "judge_profile",
            "account",
            "status",
            "basis",
            "hypothetical",
            "horizon_bars",
            "horizon_date",
            "quantity",
            "entry_price",
            "exit_price",
            "pnl_amount",
            "pnl_return",
            "rule",
            "settled_at",
            "created_at",
            "intent",
            "broker_order",
        ]

    def get_url(self, obj: Outcome) -> str:
        return f"/api/outcomes/{obj.pk}"

    def get_session_url(self, obj: Outcome) -> str:
        return f"/api/debate/sessions/{obj.consensus.session_id}"

    @extend_schema_field(OrderIntentOutputSerializer(allow_null=True))
    def get_intent(self, obj: Outcome) -> dict[str, Any] | None:
        return OrderIntentOutputSerializer(obj.intent).data if obj.intent else None

    @extend_schema_field(BrokerOrderOutputSerializer(allow_null=True))
    def get_broker_order(self, obj: Outcome) -> dict[str, Any] | None:
        order = getattr(obj.intent, "broker_order", None) if obj.intent else None
        return BrokerOrderOutputSerializer(order).data if order else None


class OutcomeDetailOutputSerializer(OutcomeOutputSerializer):
    risk_checks = serializers.SerializerMethodField()
    fills = serializers.SerializerMethodField()

    class Meta(OutcomeOutputSerializer.Meta):
        fields = [*OutcomeOutputSerializer.Meta.fields, "detail", "risk_checks", "fills"]

    @extend_schema_field(RiskCheckOutputSerializer(many=True))
    def get_risk_checks(self, obj: Outcome) -> Any:
        return RiskCheckOutputSerializer(obj.intent.risk_checks.all(), many=True).data if obj.intent else []

    @extend_schema_field(FillOutputSerializer(many=True))
    def get_fills(self, obj: Outcome) -> Any:
        order = getattr(obj.intent, "broker_order", None) if obj.intent else None
        return FillOutputSerializer(order.fills.all(), many=True).data if order else []


class OutcomeSummarySerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Outcome
        fields = [
            "id",
            "url",
            "status",
            "basis",
            "hypothetical",
            "horizon_bars",
            "horizon_date",
            "quantity",
            "entry_price",
            "exit_price",
            "pnl_amount",
            "pnl_return",
            "rule",
            "settled_at",
        ]

    def get_url(self, obj: Outcome) -> str:
        return f"/api/outcomes/{obj.pk}"


class TradeSectionSerializer(serializers.Serializer):
    """The "trade" section of a debate session: where its decision went and how it turned out."""

    account = TradingAccountSummarySerializer(allow_null=True)
    intent = OrderIntentOutputSerializer(allow_null=True)
    risk_checks = RiskCheckOutputSerializer(many=True)
    broker_order = BrokerOrderOutputSerializer(allow_null=True)
    fills = FillOutputSerializer(many=True)
    outcome = OutcomeSummarySerializer(allow_null=True)
