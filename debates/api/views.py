"""Debate and market endpoints. Thin: parse input, call a service or selector, serialize."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from arena_project.filters import StrictFilterSet
from arena_project.schema import error_responses
from debates.api.serializers import (
    BarOutputSerializer,
    BarQueryInputSerializer,
    DebateSessionCancelInputSerializer,
    DebateSessionCreateInputSerializer,
    DebateSessionDetailOutputSerializer,
    DebateSessionOutputSerializer,
    InstrumentOutputSerializer,
)
from debates.models import Bar, DebateSession, DebateStatus, Instrument
from debates.selectors import (
    bar_list,
    debate_session_get,
    debate_session_list,
    instrument_get,
    instrument_list,
)
from debates.services import debate_session_cancel, debate_session_create


class DebateSessionFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=DebateStatus.choices)
    symbol = django_filters.CharFilter(method="filter_symbol", max_length=16)
    as_of_after = django_filters.DateFilter(field_name="as_of", lookup_expr="gte")
    as_of_before = django_filters.DateFilter(field_name="as_of", lookup_expr="lte")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = DebateSession
        fields = ["status", "symbol"]

    @extend_schema_field({"type": "string", "minLength": 1, "maxLength": 16})
    def filter_symbol(
        self, queryset: django_filters.QuerySet, name: str, value: str
    ) -> django_filters.QuerySet:
        return queryset.filter(symbol=value.strip().upper())


class DebateSessionListCreateApi(generics.ListAPIView[DebateSession]):
    serializer_class = DebateSessionOutputSerializer
    filterset_class = DebateSessionFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return debate_session_list()

    @extend_schema(
        operation_id="debate_sessions_list",
        responses={200: DebateSessionOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="debate_sessions_create",
        request=DebateSessionCreateInputSerializer,
        responses={202: DebateSessionOutputSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = DebateSessionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = debate_session_create(requested_by=request.user, **data.validated_data)
        body = DebateSessionOutputSerializer(session).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class DebateSessionDetailApi(generics.GenericAPIView[DebateSession]):
    serializer_class = DebateSessionDetailOutputSerializer

    @extend_schema(
        operation_id="debate_sessions_retrieve",
        responses={200: DebateSessionDetailOutputSerializer, **error_responses(404)},
    )
    def get(self, request: Request, session_id: int) -> Response:
        return Response(DebateSessionDetailOutputSerializer(debate_session_get(session_id=session_id)).data)


class DebateSessionCancelApi(APIView):
    @extend_schema(
        operation_id="debate_sessions_cancel",
        request=DebateSessionCancelInputSerializer,
        responses={
            200: OpenApiResponse(DebateSessionOutputSerializer, description="Cancelled (it was queued)."),
            202: OpenApiResponse(
                DebateSessionOutputSerializer,
                description="Cancel requested: the running debate stops at its next safe point.",
            ),
            **error_responses(400, 404, 409),
        },
    )
    def post(self, request: Request, session_id: int) -> Response:
        data = DebateSessionCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session, stopped = debate_session_cancel(
            session_id=int(session_id), user=request.user, reason=data.validated_data.get("reason", "")
        )
        body = DebateSessionOutputSerializer(session).data
        return Response(body, status=status.HTTP_200_OK if stopped else status.HTTP_202_ACCEPTED)


class InstrumentListApi(generics.ListAPIView[Instrument]):
    serializer_class = InstrumentOutputSerializer
    filter_backends: list[type] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return instrument_list()

    @extend_schema(
        operation_id="market_symbols_list",
        responses={200: InstrumentOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class BarListApi(generics.ListAPIView[Bar]):
    serializer_class = BarOutputSerializer
    filter_backends: list[type] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        query = BarQueryInputSerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        instrument = instrument_get(symbol=self.kwargs["symbol"])
        return bar_list(
            instrument=instrument,
            start=query.validated_data.get("start"),
            end=query.validated_data.get("end"),
        )

    @extend_schema(
        operation_id="market_symbol_bars_list",
        parameters=[BarQueryInputSerializer],
        responses={200: BarOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)
