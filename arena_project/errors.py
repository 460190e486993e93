"""One error shape for the whole API: ``{"code", "message", "extra"}``.

Services raise :class:`ArenaError` subclasses; DRF raises its own exceptions for parsing,
authentication and validation. :func:`exception_handler` renders all of them the same way, so a
client never has to guess the shape, and views never build error responses themselves.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler


class ArenaError(Exception):
    """A domain error a client or operator can act on; the message is safe to show."""

    code: ClassVar[str] = "arena_error"
    http_status: ClassVar[int] = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFoundError(ArenaError):
    code = "not_found"
    http_status = status.HTTP_404_NOT_FOUND


class InvalidInputError(ArenaError):
    """Input that passed the serializer but fails a domain rule; ``extra["fields"]`` names the fields."""

    code = "invalid"
    http_status = status.HTTP_400_BAD_REQUEST

    @classmethod
    def for_field(cls, field: str, message: str) -> InvalidInputError:
        return cls(message, extra={"fields": {field: [message]}})


class ConflictError(ArenaError):
    code = "conflict"
    http_status = status.HTTP_409_CONFLICT


def _body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every error a view can raise in the one shape; unknown errors stay 500s for Django."""
    if isinstance(exc, ArenaError):
        return Response(_body(exc.code, exc.message, exc.extra), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.UnsupportedMediaType):
        # A body we cannot parse is bad input like any other: the same 400 a malformed JSON body gets.
        message = "Send a JSON object with Content-Type: application/json."
        return Response(
            _body("unsupported_media_type", message, {"fields": {"non_field_errors": [message]}}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.ParseError):
        # Malformed JSON is bad input too: give it the per-field shape every other 400 has.
        message = str(exc.detail)
        return Response(
            _body("parse_error", message, {"fields": {"non_field_errors": [message]}}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _body("invalid", "Invalid input.", {"fields": response.data})
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else "Request failed."
        response.data = _body(codes if isinstance(codes, str) else exc.default_code, message)
    return response


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: a path no route matches (e.g. ``/api/debate/sessions/abc``) under ``/api/``
    gets the one error shape as JSON, not Django's HTML page; other paths keep the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse(_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)
