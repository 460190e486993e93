"""Staff-only panels API: list, create, read, replace, change and delete panels with their seats."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.api.panel_serializers import PanelInputSerializer, PanelOutputSerializer
from agents.models import Panel
from agents.panel_services import panel_create, panel_delete, panel_update
from agents.selectors import panel_by_id_get, panel_list
from arena_project.schema import error_responses

_STAFF_ONLY = [permissions.IsAuthenticated, permissions.IsAdminUser]


class PanelListCreateApi(generics.ListAPIView[Panel]):
    permission_classes = _STAFF_ONLY
    parser_classes = [JSONParser]  # lists and objects: JSON only, and so says the schema
    serializer_class = PanelOutputSerializer
    filter_backends: list[type] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return panel_list()

    @extend_schema(
        operation_id="admin_panels_list",
        responses={200: PanelOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="admin_panels_create",
        request=PanelInputSerializer,
        responses={201: PanelOutputSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = PanelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        panel = panel_create(**data.validated_data)
        body = PanelOutputSerializer(panel_by_id_get(panel_id=panel.pk)).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class PanelDetailApi(APIView):
    # A plain APIView: DRF's OPTIONS metadata would call get_object() on a generic view.
    permission_classes = _STAFF_ONLY
    parser_classes = [JSONParser]  # lists and objects: JSON only, and so says the schema

    @extend_schema(
        operation_id="admin_panels_retrieve",
        responses={200: PanelOutputSerializer, **error_responses(404)},
    )
    def get(self, request: Request, panel_id: str) -> Response:
        return Response(PanelOutputSerializer(panel_by_id_get(panel_id=int(panel_id))).data)

    @extend_schema(
        operation_id="admin_panels_update",
        request=PanelInputSerializer,
        responses={200: PanelOutputSerializer, **error_responses(400, 404)},
    )
    def put(self, request: Request, panel_id: str) -> Response:
        return self._change(request, int(panel_id), partial=False)

    @extend_schema(
        operation_id="admin_panels_partial_update",
        request=PanelInputSerializer(partial=True),
        responses={200: PanelOutputSerializer, **error_responses(400, 404)},
    )
    def patch(self, request: Request, panel_id: str) -> Response:
        return self._change(request, int(panel_id), partial=True)

    @extend_schema(
        operation_id="admin_panels_destroy",
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404, 409)},
    )
    def delete(self, request: Request, panel_id: str) -> Response:
        panel_delete(panel=panel_by_id_get(panel_id=int(panel_id)))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _change(self, request: Request, panel_id: int, *, partial: bool) -> Response:
        panel = panel_by_id_get(panel_id=panel_id)
        data = PanelInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        fields: dict[str, Any] = dict(data.validated_data)
        panel_update(panel=panel, **fields)
        return Response(PanelOutputSerializer(panel_by_id_get(panel_id=panel_id)).data)
