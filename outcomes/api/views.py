"""Outcome endpoints. Thin: filter, call a selector, serialize."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from arena_project.errors import NotFoundError
from arena_project.filters import NonEmptyCharFilter, StrictFilterSet
from arena_project.schema import error_responses
from debates.models import DebateMessage
from outcomes.api.serializers import OutcomeDetailOutputSerializer, OutcomeOutputSerializer
from outcomes.models import Outcome, OutcomeStatus
from outcomes.selectors import outcome_get, outcome_list

ACTIONS = [("buy", "buy"), ("sell", "sell"), ("hold", "hold")]


class OutcomeFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=OutcomeStatus.choices)
    symbol = NonEmptyCharFilter(method="filter_symbol", max_length=100)
    action = django_filters.ChoiceFilter(field_name="consensus__action", choices=ACTIONS)
    profile = NonEmptyCharFilter(
        method="filter_profile", max_length=100, help_text="Agent profile name that took part in the debate."
    )
    account = NonEmptyCharFilter(
        field_name="account__name", max_length=100, help_text="Trading account name."
    )
    as_of = django_filters.DateFilter(field_name="consensus__session__as_of", help_text="Decision date.")
    as_of_after = django_filters.DateFilter(field_name="consensus__session__as_of", lookup_expr="gte")
    as_of_before = django_filters.DateFilter(field_name="consensus__session__as_of", lookup_expr="lte")
    settled_after = django_filters.IsoDateTimeFilter(field_name="settled_at", lookup_expr="gte")
    settled_before = django_filters.IsoDateTimeFilter(field_name="settled_at", lookup_expr="lte")

    class Meta:
        model = Outcome
        fields = ["status"]

    def filter_symbol(self, queryset: QuerySet[Outcome], name: str, value: str) -> QuerySet[Outcome]:
        return queryset.filter(consensus__session__symbol=value.strip().upper())

    def filter_profile(self, queryset: QuerySet[Outcome], name: str, value: str) -> QuerySet[Outcome]:
        sessions = DebateMessage.objects.filter(profile__name=value.strip()).values("session_id")
        return queryset.filter(consensus__session_id__in=sessions)


class OutcomeListApi(generics.ListAPIView[Outcome]):
    serializer_class = OutcomeOutputSerializer
    filterset_class = OutcomeFilter

    def get_queryset(self) -> QuerySet[Outcome]:
        return outcome_list()

    @extend_schema(
        operation_id="outcomes_list",
        responses={200: OutcomeOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class OutcomeDetailApi(generics.GenericAPIView[Outcome]):
    serializer_class = OutcomeDetailOutputSerializer

    @extend_schema(
        operation_id="outcomes_retrieve",
        parameters=[OpenApiParameter("outcome_id", int, OpenApiParameter.PATH, description="Outcome id.")],
        responses={200: OutcomeDetailOutputSerializer, **error_responses(404)},
    )
    def get(self, request: Request, outcome_id: str) -> Response:
        if not outcome_id.isascii() or not outcome_id.isdigit() or len(outcome_id) > 18:
            raise NotFoundError(f"No outcome {outcome_id[:40]!r}.")
        return Response(OutcomeDetailOutputSerializer(outcome_get(outcome_id=int(outcome_id))).data)
