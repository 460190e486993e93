"""Competition and leaderboard endpoints. Thin: parse input, call a service or selector, serialize."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAdminUser
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from arena_project.pagination import ArenaPagination
from arena_project.renderers import OrjsonRenderer
from arena_project.schema import error_responses

from ..models import CompetitionRun, TraderProfile
from ..selectors import (
    LeaderboardQuery,
    competition_run_get,
    competition_run_list,
    equity_curves,
    leaderboard_rows,
    trader_profile_get,
    trader_profile_list,
)
from ..services.runs import competition_run_cancel, competition_run_create
from ..services.traders import trader_profile_create, trader_profile_delete, trader_profile_update
from .serializers import (
    CompetitionRunCreateInputSerializer,
    CompetitionRunDetailOutputSerializer,
    CompetitionRunListInputSerializer,
    CompetitionRunOutputSerializer,
    LeaderboardOutputSerializer,
    LeaderboardQueryInputSerializer,
    TraderProfileInputSerializer,
    TraderProfileOutputSerializer,
    leaderboard_output_data,
    leaderboard_query_validated,
)


class IsStaffForWrites(BasePermission):
    """Any authenticated user reads; only staff write (runs spend money, traders steer them)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or bool(user.is_staff)


# --- trader profiles ------------------------------------------------------------------------------


class TraderProfileListCreateApi(generics.ListAPIView[TraderProfile]):
    permission_classes = [IsStaffForWrites]
    serializer_class = TraderProfileOutputSerializer
    filter_backends: list[type] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return trader_profile_list()

    @extend_schema(
        operation_id="competition_traders_list",
        responses={200: TraderProfileOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="competition_traders_create",
        request=TraderProfileInputSerializer,
        responses={201: TraderProfileOutputSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = TraderProfileInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trader = trader_profile_create(**data.validated_data)
        body = TraderProfileOutputSerializer(trader_profile_get(trader_id=trader.pk)).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class TraderProfileDetailApi(generics.GenericAPIView[TraderProfile]):
    permission_classes = [IsStaffForWrites]
    serializer_class = TraderProfileOutputSerializer
    lookup_url_kwarg = "trader_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return trader_profile_list()  # DRF's OPTIONS (metadata) looks the object up through these

    @extend_schema(
        operation_id="competition_traders_retrieve",
        responses={200: TraderProfileOutputSerializer, **error_responses(404)},
    )
    def get(self, request: Request, trader_id: int) -> Response:
        return Response(TraderProfileOutputSerializer(trader_profile_get(trader_id=trader_id)).data)

    @extend_schema(
        operation_id="competition_traders_update",
        request=TraderProfileInputSerializer,
        responses={200: TraderProfileOutputSerializer, **error_responses(400, 404)},
    )
    def put(self, request: Request, trader_id: int) -> Response:
        return self._update(request, trader_id, partial=False)

    @extend_schema(
        operation_id="competition_traders_partial_update",
        request=TraderProfileInputSerializer(partial=True),
        responses={200: TraderProfileOutputSerializer, **error_responses(400, 404)},
    )
    def patch(self, request: Request, trader_id: int) -> Response:
        return self._update(request, trader_id, partial=True)

    @extend_schema(
        operation_id="competition_traders_destroy",
        responses={204: None, **error_responses(404, 409)},
    )
    def delete(self, request: Request, trader_id: int) -> Response:
        trader_profile_delete(trader=trader_profile_get(trader_id=trader_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, trader_id: int, *, partial: bool) -> Response:
        trader = trader_profile_get(trader_id=trader_id)
        data = TraderProfileInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        trader_profile_update(trader=trader, **data.validated_data)
        return Response(TraderProfileOutputSerializer(trader_profile_get(trader_id=trader_id)).data)


# --- runs -----------------------------------------------------------------------------------------


class CompetitionRunListCreateApi(generics.ListAPIView[CompetitionRun]):
    permission_classes = [IsStaffForWrites]
    serializer_class = CompetitionRunOutputSerializer
    filter_backends: list[type] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        query = CompetitionRunListInputSerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        qs = competition_run_list()
        if query.validated_data.get("status"):
            qs = qs.filter(status=query.validated_data["status"])
        if query.validated_data.get("mode"):
            qs = qs.filter(mode=query.validated_data["mode"])
        return qs

    @extend_schema(
        operation_id="competition_runs_list",
        parameters=[CompetitionRunListInputSerializer],
        responses={200: CompetitionRunOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="competition_runs_create",
        request=CompetitionRunCreateInputSerializer,
        responses={202: CompetitionRunOutputSerializer, **error_responses(400, 409)},
        description=(
            "Queue a competition. Its cost is estimated first; a run whose estimate exceeds its budget "
            "is refused with 409 `budget_exceeded` unless `confirm` is true."
        ),
    )
    def post(self, request: Request) -> Response:
        data = CompetitionRunCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        budget_given = "budget_usd" in values
        run = competition_run_create(
            traders=values.pop("traders"),
            symbols=values.pop("symbols"),
            mode=values.pop("mode"),
            start=values.pop("start", None),
            end=values.pop("end", None),
            tick_minutes=values.pop("tick_minutes", None),
            budget_usd=values.pop("budget_usd", None),
            use_default_budget=not budget_given,
            confirm=values.pop("confirm"),
            seed=values.pop("seed", None),
            name=values.pop("name", ""),
            requested_by=request.user,
        )
        body = CompetitionRunOutputSerializer(competition_run_get(run_id=run.pk)).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class CompetitionRunDetailApi(generics.GenericAPIView[CompetitionRun]):
    serializer_class = CompetitionRunDetailOutputSerializer
    lookup_url_kwarg = "run_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return competition_run_list()

    @extend_schema(
        operation_id="competition_runs_retrieve",
        responses={200: CompetitionRunDetailOutputSerializer, **error_responses(404)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = competition_run_get(run_id=run_id)
        context = {"equity_curves": equity_curves(run=run)}
        return Response(CompetitionRunDetailOutputSerializer(run, context=context).data)


class CompetitionRunCancelApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="competition_runs_cancel",
        request=None,
        responses={200: CompetitionRunOutputSerializer, **error_responses(404, 409)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = competition_run_cancel(run=competition_run_get(run_id=run_id))
        return Response(CompetitionRunOutputSerializer(competition_run_get(run_id=run.pk)).data)


# --- leaderboard ----------------------------------------------------------------------------------


class LeaderboardApi(APIView):
    permission_classes = [IsAdminUser]
    # DRF's default renderers, JSON written by orjson: the answer is a few hundred floats, whose
    # formatting by the standard library cost as much as a trivial request's view. The answer is
    # plain JSON types (no enums; no non-finite floats: every rate and mean has its n > 0).
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]

    @extend_schema(
        operation_id="arena_leaderboard",
        parameters=[LeaderboardQueryInputSerializer],
        responses={200: LeaderboardOutputSerializer, **error_responses(400, 404)},
        description=(
            "Agent (or trader) profiles ranked over a window. Every rate has its n and a Wilson 95 % "
            "interval; a row whose hit-rate interval overlaps buy-and-hold's or a fair coin's is "
            "`not_distinguishable_from_baseline`."
        ),
    )
    def get(self, request: Request) -> Response:
        params = leaderboard_query_validated(request.query_params.dict())
        key = _page_cache_key(request)
        if key is not None and (cached := cache.get(key)) is not None:
            return Response(cached)
        params.pop("page", None)
        params.pop("page_size", None)
        board = leaderboard_rows(query=LeaderboardQuery(**params))
        paginator = ArenaPagination()
        page = paginator.paginate_queryset(board.rows, request, view=self)
        data = leaderboard_output_data(
            board,
            board.rows if page is None else page,
            count=len(board.rows),
            next_link=paginator.get_next_link() if page is not None else None,
            previous_link=paginator.get_previous_link() if page is not None else None,
        )
        if key is not None:
            cache.set(key, data, timeout=settings.ARENA_LEADERBOARD_CACHE_SECONDS)
        return Response(data)


def _page_cache_key(request: Request) -> str | None:
    """The same page of the same query is served from the cache for ARENA_LEADERBOARD_CACHE_SECONDS
    (its ``computed_at`` says when it was computed); None when caching is off."""
    ttl = settings.ARENA_LEADERBOARD_CACHE_SECONDS
    if ttl <= 0:
        return None
    period = int(time.time() // ttl)
    query = sorted(request.query_params.lists())
    return "arena:leaderboard-page:" + hashlib.sha256(f"{query!r}|{period}".encode()).hexdigest()
