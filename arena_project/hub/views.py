"""The hub's pages. Staff only; each view reads through selectors and renders a template.

Errors an operator can cause (an unknown debate id, a bad filter, a tool call that fails) come back
as messages on the page with the right status code, never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from arena_project.errors import NotFoundError
from arena_project.hub import selectors
from arena_project.hub.formatting import ratio
from arena_project.hub.forms import LeaderboardFilterForm, ToolTryForm, default_as_of
from arena_project.hub.leaderboard import leaderboard_charts, leaderboard_columns
from arena_project.hub.tool_try import ToolTry, known_symbols, latest_bar_date, tool_names, tool_try
from competition.selectors import leaderboard_rows_cached
from debates.extensions import session_sections

logger = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., HttpResponse])

RECENT_PAGE_SIZE = 25
PANEL_PAGE_SIZE = 10
ACTIVITY_PAGE_SIZE = 50
LEADERBOARD_PAGE_SIZE = 25


def staff_required(view: View) -> View:
    """Anonymous users go to the admin login (and come back); signed-in non-staff get a 403 page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("The hub is for staff accounts.")
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def poll_interval_ms() -> int:
    """How often live parts of a page refresh, in ms (ARENA_HUB_POLL_MS; the browser tests shorten it)."""
    return int(getattr(settings, "ARENA_HUB_POLL_MS", 3000))


def not_found_page(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "hub/not_found.html", {"message": message}, status=404)


@require_GET
@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    periods = selectors.overview_periods()
    page = Paginator(selectors.recent_debates(), RECENT_PAGE_SIZE).get_page(request.GET.get("page"))
    daily = selectors.daily_costs(days=14)
    context = {
        "periods": periods,
        "page": page,
        "histogram": selectors.agreement_histogram(),
        "daily_cost_items": [(f"{d.day:%d %b}", float(d.cost_usd)) for d in daily],
        "daily_debate_items": [(f"{d.day:%d %b}", float(d.debates)) for d in daily],
        "daily_cost_total": sum((d.cost_usd for d in daily), selectors.ZERO),
        "active": selectors.active_debates(),
        "poll_interval": poll_interval_ms(),
    }
    return render(request, "hub/overview.html", context)


@require_GET
@staff_required
def active_fragment(request: HttpRequest) -> HttpResponse:
    """The running-debates panel alone, for the overview's polling (no page reload)."""
    return render(request, "hub/_active.html", {"active": selectors.active_debates()})


def _debate_context(session_id: int) -> dict[str, Any]:
    session = selectors.hub_debate_get(session_id=session_id)
    messages = list(session.messages.all())
    rounds: dict[int, list[Any]] = {}
    for message in messages:
        rounds.setdefault(message.round, []).append(message)
    timeline = selectors.debate_timeline(session)
    sections, sections_error = _sections(session)
    return {
        "session": session,
        "consensus": getattr(session, "consensus", None),
        "rounds": sorted(rounds.items()),
        "tool_calls": list(session.tool_calls.all()),
        "breakdown": selectors.debate_cost_breakdown(session),
        "timeline": timeline,
        "sections": sections,
        "sections_error": sections_error,
        "live": session.status in selectors.ACTIVE_STATUSES,
        "poll_interval": poll_interval_ms(),
    }


def _sections(session: Any) -> tuple[dict[str, Any], str]:
    """Other apps' sections of a debate (order, fills, outcome...). One failing app must not hide the
    whole debate from the operator: its error is logged and the page says so."""
    try:
        return session_sections(session), ""
    except Exception:
        logger.exception("a debate section builder failed for session %s", session.pk)
        return {}, "Sections added by other apps (orders, outcomes) could not be loaded; see the server log."


@require_GET
@staff_required
def debate_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    try:
        context = _debate_context(int(session_id))
    except NotFoundError as exc:
        return not_found_page(request, exc.message)
    return render(request, "hub/debate_detail.html", context)


@require_GET
@staff_required
def debate_fragment(request: HttpRequest, session_id: str) -> HttpResponse:
    """The run details body alone, polled while the debate is queued or running."""
    try:
        context = _debate_context(int(session_id))
    except NotFoundError as exc:
        return not_found_page(request, exc.message)
    return render(request, "hub/_debate_body.html", context)


@require_GET
@staff_required
def strategies(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.panel_results(), PANEL_PAGE_SIZE).get_page(request.GET.get("page"))
    panels = [
        {
            "panel": panel,
            "seats": selectors.sorted_seats(panel),
            "policy": selectors.panel_policy(panel),
            "completed_share": ratio(panel.completed, panel.debates),  # type: ignore[attr-defined]
            "escalation_share": ratio(panel.escalated, panel.completed),  # type: ignore[attr-defined]
        }
        for panel in page
    ]
    return render(request, "hub/strategies.html", {"page": page, "panels": panels})


@require_http_methods(["GET", "POST"])
@staff_required
def tools(request: HttpRequest) -> HttpResponse:
    names = tool_names()
    outcome: ToolTry | None = None
    if request.method == "POST":
        form = ToolTryForm(request.POST, tool_names=names)
        if form.is_valid():
            outcome = tool_try(tool=form.cleaned_data["tool"], arguments=form.arguments())
            if not outcome.ok:
                form.add_error(None, outcome.error)
    else:
        form = ToolTryForm(
            tool_names=names, initial={"tool": "get_quote", "as_of": default_as_of(latest_bar_date())}
        )
    context = {
        "form": form,
        "stats": selectors.tool_stats(tool_names=names),
        "outcome": outcome,
        "closes": _closes(outcome),
        "symbols": known_symbols(),
    }
    # Errors are shown on the page with a 200, as Django forms do: a 4xx document would also be
    # logged as a failed resource in the browser console.
    return render(request, "hub/tools.html", context)


def _closes(outcome: ToolTry | None) -> list[tuple[float, float]]:
    """Closing prices of a tried get_bars call, as (day ordinal, close) points for a line chart."""
    if (
        outcome is None
        or not outcome.ok
        or outcome.tool != "get_bars"
        or not isinstance(outcome.result, dict)
    ):
        return []
    points = []
    for bar in outcome.result.get("bars", []):
        try:
            points.append((float(dt.date.fromisoformat(bar["date"]).toordinal()), float(bar["close"])))
        except (KeyError, TypeError, ValueError):
            continue
    return points


@require_GET
@staff_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    """The leaderboard selector's rankings (window, filters, sort, pages, intervals, baseline marks,
    three charts) and, below, the raw agent activity of the same window and filters."""
    form = LeaderboardFilterForm(request.GET or None)
    filters = form.filters()
    query = form.query()
    board = leaderboard_rows_cached(query=query)
    page = Paginator(board.rows, LEADERBOARD_PAGE_SIZE).get_page(request.GET.get("page"))
    activity: Any = None
    if query.kind == "agents":
        rows = selectors.profile_activity(
            window=filters["window"],
            role=filters["role"],
            provider=filters["provider"],
            tier=filters["tier"],
            symbol=filters["symbol"],
            sort=filters["activity_sort"],
        )
        activity = Paginator(rows, ACTIVITY_PAGE_SIZE).get_page(request.GET.get("activity_page"))
    context = {
        "form": form,
        "filters": filters,
        "board": board,
        "page": page,
        "activity": activity,
        "columns": leaderboard_columns(filters["sort"]),
        **leaderboard_charts(board.rows),
    }
    return render(request, "hub/leaderboard.html", context)  # bad filters: a message, defaults applied
