"""OpenAPI helpers: the error responses every endpoint documents."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

from arena_project.serializers import ErrorSerializer


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Document the given error statuses with the one error shape (401/403 always included)."""
    descriptions = {
        400: "Invalid input; `extra.fields` holds per-field messages.",
        401: "No or invalid credentials.",
        403: "Authenticated but not allowed.",
        404: "No such object (or no such page of a list).",
        409: "Conflicts with the object's current state.",
    }
    wanted = sorted({*statuses, 401, 403})
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions[code]) for code in wanted}
