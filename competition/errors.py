"""Errors of the competition app, rendered in the one API error shape (arena_project/errors.py)."""

from __future__ import annotations

from rest_framework import status

from arena_project.errors import ArenaError, ConflictError


class BudgetExceededError(ArenaError):
    """The run's cost estimate (or its spend) is over its budget and nobody confirmed going over."""

    code = "budget_exceeded"
    http_status = status.HTTP_409_CONFLICT


class RunNotCancellableError(ConflictError):
    code = "run_not_cancellable"


class TraderInUseError(ConflictError):
    code = "trader_in_use"
