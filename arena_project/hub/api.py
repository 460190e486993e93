"""JSON twins of the hub's pages under ``/api/admin/arena/`` (staff only), for other clients.

Same selectors as the pages, so the numbers agree; errors in the one API shape (arena_project/errors.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from arena_project.errors import NotFoundError
from arena_project.hub import selectors
from arena_project.schema import error_responses
from arena_project.serializers import StrictInputSerializer
from competition.models import CompetitionRun
from debates.api.serializers import DebateSessionDetailOutputSerializer
from debates.models import DebateSession, DebateStatus

# --- overview -----------------------------------------------------------------------------------


class PeriodOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label (DRF pops it)
    since = serializers.DateTimeField()
    debates = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    active = serializers.IntegerField(help_text="Queued or running.")
    escalated = serializers.IntegerField()
    pass_rate = serializers.FloatField(allow_null=True, help_text="completed / (completed + failed)")
    escalation_rate = serializers.FloatField(allow_null=True, help_text="escalated / completed")
    cost_usd = serializers.DecimalField(
        max_digits=20, decimal_places=10, help_text="Known spend of the period's LLM calls (the ledger)."
    )
    unpriced_calls = serializers.IntegerField(help_text="LLM calls whose cost is unknown (not in cost_usd).")
    calls = serializers.IntegerField(help_text="LLM calls (every attempt, health checks included).")
    calls_source = serializers.CharField(help_text="What a call counts.")
    tokens = serializers.IntegerField(allow_null=True, help_text="Input + output tokens of those calls.")


class HistogramOutputSerializer(serializers.Serializer):
    edges = serializers.ListField(child=serializers.FloatField())
    counts = serializers.ListField(child=serializers.IntegerField())


class DailyCostOutputSerializer(serializers.Serializer):
    day = serializers.DateField()
    debates = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=6)


class ActiveDebateOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    symbol = serializers.CharField()
    as_of = serializers.DateField()
    status = serializers.ChoiceField(choices=DebateStatus.choices)
    panel = serializers.CharField(source="panel.name")
    answers = serializers.IntegerField(help_text="Agent answers recorded so far.")
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)


class OverviewOutputSerializer(serializers.Serializer):
    periods = PeriodOutputSerializer(many=True)
    agreement_histogram = HistogramOutputSerializer()
    daily = DailyCostOutputSerializer(many=True, help_text="The last 14 days, zero-filled.")
    active = ActiveDebateOutputSerializer(many=True)


class OverviewApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="admin_arena_overview",
        responses={200: OverviewOutputSerializer, **error_responses()},
        description="Today's and this week's debates, cost, calls and rates; agreement distribution; "
        "daily cost; debates running now. The JSON twin of /hub/.",
    )
    def get(self, request: Request) -> Response:
        data = {
            "periods": selectors.overview_periods(),
            "agreement_histogram": selectors.agreement_histogram(),
            "daily": selectors.daily_costs(days=14),
            "active": selectors.active_debates(),
        }
        return Response(OverviewOutputSerializer(data).data)


# --- runs ---------------------------------------------------------------------------------------


class RunListInputSerializer(StrictInputSerializer):
    status = serializers.ChoiceField(choices=DebateStatus.choices, required=False)
    symbol = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9.\-]{0,15}$", max_length=16, required=False)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)


class RunConsensusOutputSerializer(serializers.Serializer):
    action = serializers.CharField()
    size = serializers.FloatField()
    confidence = serializers.FloatField()
    agreement_rate = serializers.FloatField()
    valid_analysts = serializers.IntegerField()
    escalated = serializers.BooleanField()


class RunOutputSerializer(serializers.ModelSerializer):
    panel = serializers.CharField(source="panel.name")
    consensus = serializers.SerializerMethodField()
    hub_url = serializers.SerializerMethodField()
    api_url = serializers.SerializerMethodField()

    class Meta:
        model = DebateSession
        fields = [
            "id",
            "symbol",
            "as_of",
            "status",
            "panel",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "attempts",
            "total_cost_usd",
            "error",
            "consensus",
            "hub_url",
            "api_url",
        ]

    @extend_schema_field(RunConsensusOutputSerializer(allow_null=True))
    def get_consensus(self, obj: DebateSession) -> dict[str, Any] | None:
        consensus = getattr(obj, "consensus", None)
        return RunConsensusOutputSerializer(consensus).data if consensus else None

    def get_hub_url(self, obj: DebateSession) -> str:
        return reverse("hub:debate", args=[obj.pk])

    def get_api_url(self, obj: DebateSession) -> str:
        return reverse("admin-arena-run", args=[obj.pk])


class RunListApi(generics.ListAPIView[DebateSession]):
    """Debates newest first, with their consensus; filter by status and symbol; paginated."""

    permission_classes = [IsAdminUser]
    serializer_class = RunOutputSerializer
    filter_backends: list[type] = []

    def get_queryset(self) -> QuerySet[DebateSession]:
        query = RunListInputSerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        qs = selectors.recent_debates()
        if status := query.validated_data.get("status"):
            qs = qs.filter(status=status)
        if symbol := query.validated_data.get("symbol"):
            qs = qs.filter(symbol=symbol.upper())
        return qs

    @extend_schema(
        operation_id="admin_arena_runs_list",
        parameters=[RunListInputSerializer],
        responses={200: RunOutputSerializer(many=True), **error_responses(400, 404)},
        description="The JSON twin of the overview's recent debates table.",
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class CostLineOutputSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label (DRF pops it)
    round = serializers.IntegerField(allow_null=True)
    role = serializers.CharField()
    profile = serializers.CharField()
    tier = serializers.CharField()
    calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    cost_usd = serializers.DecimalField(max_digits=20, decimal_places=10, allow_null=True)
    latency_ms = serializers.IntegerField()
    failed_attempts = serializers.IntegerField(help_text="Ledger attempts that did not succeed.")


class CostBreakdownOutputSerializer(serializers.Serializer):
    per_agent = CostLineOutputSerializer(many=True)
    per_round = CostLineOutputSerializer(many=True)
    unattributed = CostLineOutputSerializer(
        allow_null=True, help_text="Ledger calls of the session linked to no answer."
    )
    tools_latency_ms = serializers.IntegerField()
    total_cost_usd = serializers.DecimalField(max_digits=20, decimal_places=10)
    cost_known = serializers.BooleanField(help_text="False when some call's cost is unknown.")
    tokens_known = serializers.BooleanField(help_text="True when the session has LLM call ledger rows.")


class TimelineEntryOutputSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label (DRF pops it)
    kind = serializers.CharField()
    start_ms = serializers.IntegerField(help_text="Reconstructed from latencies, not clocked.")
    duration_ms = serializers.IntegerField()
    detail = serializers.CharField()


class RunDetailOutputSerializer(DebateSessionDetailOutputSerializer):
    cost_breakdown = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()

    class Meta(DebateSessionDetailOutputSerializer.Meta):
        fields = [*DebateSessionDetailOutputSerializer.Meta.fields, "cost_breakdown", "timeline"]

    @extend_schema_field(CostBreakdownOutputSerializer)
    def get_cost_breakdown(self, obj: DebateSession) -> dict[str, Any]:
        return CostBreakdownOutputSerializer(selectors.debate_cost_breakdown(obj)).data

    @extend_schema_field(TimelineEntryOutputSerializer(many=True))
    def get_timeline(self, obj: DebateSession) -> Any:
        return TimelineEntryOutputSerializer(selectors.debate_timeline(obj), many=True).data


class RunDetailApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="admin_arena_runs_retrieve",
        responses={200: RunDetailOutputSerializer, **error_responses(404)},
        description="One debate with its answers, tool calls, consensus, cost breakdown and timeline: "
        "the JSON twin of /hub/debates/{id}/.",
    )
    def get(self, request: Request, session_id: str) -> Response:
        session = selectors.hub_debate_get(session_id=int(session_id))  # NotFoundError -> 404
        return Response(RunDetailOutputSerializer(session).data)


# --- competitions -------------------------------------------------------------------------------


class CompetitionProgressOutputSerializer(serializers.ModelSerializer):
    finished = serializers.BooleanField(help_text="Completed, failed or cancelled: nothing will change.")
    hub_url = serializers.SerializerMethodField()
    api_url = serializers.SerializerMethodField()

    class Meta:
        model = CompetitionRun
        fields = [
            "id",
            "name",
            "mode",
            "status",
            "finished",
            "progress",
            "days_done",
            "days_total",
            "last_date",
            "cost_usd",
            "cost_estimate_usd",
            "budget_usd",
            "error",
            "started_at",
            "finished_at",
            "updated_at",
            "hub_url",
            "api_url",
        ]

    def get_hub_url(self, obj: CompetitionRun) -> str:
        return reverse("hub:competition", args=[obj.pk])

    def get_api_url(self, obj: CompetitionRun) -> str:
        return reverse("competition-run-detail", args=[obj.pk])


class CompetitionProgressApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="admin_arena_competitions_progress",
        responses={200: CompetitionProgressOutputSerializer, **error_responses(404)},
        description="A competition run's status, progress and spend so far (one query): what "
        "/hub/competitions/{id}/ polls while the run is queued or running. Scores and curves: "
        "GET /api/competition/runs/{id}.",
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = CompetitionRun.objects.filter(pk=int(run_id)).first()
        if run is None:
            raise NotFoundError(f"No competition run {run_id}.")
        return Response(CompetitionProgressOutputSerializer(run).data)
