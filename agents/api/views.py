"""Staff-only CRUD of agent profiles. Thin: parse, call a service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from agents.api.serializers import (
    ProfileInputSerializer,
    ProfileListQueryInputSerializer,
    ProfileOutputSerializer,
)
from agents.models import AgentProfile
from agents.selectors import profile_get, profile_list
from agents.services import profile_create, profile_delete, profile_update
from arena_project.errors import NotFoundError
from arena_project.schema import error_responses


class ProfileListCreateApi(generics.ListAPIView[AgentProfile]):
    permission_classes = [IsAdminUser]
    parser_classes = [JSONParser]  # lists and objects: JSON only, and so says the schema
    serializer_class = ProfileOutputSerializer
    filter_backends: list[type] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        ProfileListQueryInputSerializer(data=self.request.query_params.dict()).is_valid(raise_exception=True)
        return profile_list()

    @extend_schema(
        operation_id="arena_profiles_list",
        parameters=[ProfileListQueryInputSerializer],
        responses={200: ProfileOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="arena_profiles_create",
        request=ProfileInputSerializer,
        responses={201: ProfileOutputSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = ProfileInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = profile_create(**data.validated_data)
        body = ProfileOutputSerializer(profile_get(profile_id=profile.pk)).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


_PROFILE_ID = OpenApiParameter(
    "profile_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Profile id."
)


def _profile(profile_id: str) -> AgentProfile:
    if not profile_id.isascii() or not profile_id.isdigit() or len(profile_id) > 18:
        raise NotFoundError(f"No agent profile {profile_id[:40]!r}.")
    return profile_get(profile_id=int(profile_id))


@extend_schema(parameters=[_PROFILE_ID])
class ProfileDetailApi(generics.GenericAPIView[AgentProfile]):
    permission_classes = [IsAdminUser]
    parser_classes = [JSONParser]  # lists and objects: JSON only, and so says the schema
    serializer_class = ProfileOutputSerializer
    lookup_url_kwarg = "profile_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return profile_list()  # DRF's OPTIONS (metadata) looks the object up through these

    @extend_schema(
        operation_id="arena_profiles_retrieve",
        responses={200: ProfileOutputSerializer, **error_responses(404)},
    )
    def get(self, request: Request, profile_id: str) -> Response:
        return Response(ProfileOutputSerializer(_profile(profile_id)).data)

    @extend_schema(
        operation_id="arena_profiles_update",
        request=ProfileInputSerializer,
        responses={200: ProfileOutputSerializer, **error_responses(400, 404)},
    )
    def put(self, request: Request, profile_id: str) -> Response:
        return self._update(request, profile_id, partial=False)

    @extend_schema(
        operation_id="arena_profiles_partial_update",
        request=ProfileInputSerializer(partial=True),
        responses={200: ProfileOutputSerializer, **error_responses(400, 404)},
    )
    def patch(self, request: Request, profile_id: str) -> Response:
        return self._update(request, profile_id, partial=True)

    @extend_schema(
        operation_id="arena_profiles_destroy",
        responses={204: None, **error_responses(404, 409)},
    )
    def delete(self, request: Request, profile_id: str) -> Response:
        profile_delete(profile=_profile(profile_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, profile_id: str, *, partial: bool) -> Response:
        profile = _profile(profile_id)
        data = ProfileInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        profile_update(profile=profile, **data.validated_data)
        return Response(ProfileOutputSerializer(_profile(profile_id)).data)
