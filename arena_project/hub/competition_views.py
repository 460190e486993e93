"""The hub's competition pages: runs (with the start form), one run, and its live parts.

Starting a backtest takes two steps. Step 1 (``step=estimate``) validates the form and shows the
cost estimate and the budget guard's verdict (``competition_cost_estimate`` and ``budget_check``,
the same functions ``competition_run_create`` uses), carrying the values in hidden fields. Step 2
(``step=confirm``) creates and enqueues the run through ``competition_run_create`` - which checks
everything again - and redirects to the run's page. Every refusal (a field, the budget, a run that
could not be created) is shown on the page as a message; nothing is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from arena_project.errors import NotFoundError
from arena_project.hub import selectors
from arena_project.hub.forms import CompetitionStartForm
from arena_project.hub.tool_try import known_symbols, latest_bar_date
from arena_project.hub.views import not_found_page, poll_interval_ms, staff_required
from competition.errors import BudgetExceededError
from competition.models import RunMode
from competition.selectors import competition_run_get
from competition.services.runs import RunPlan, competition_run_create, competition_run_plan, default_budget

RUN_PAGE_SIZE = 20
DECISION_PAGE_SIZE = 25
DEFAULT_DAYS = 7  # the form proposes the last week of bars: a small, quick backtest


@require_http_methods(["GET", "POST"])
@staff_required
def competitions(request: HttpRequest) -> HttpResponse:
    """Runs newest first, paginated, with the start form (or its estimate step) above them."""
    symbols = known_symbols()
    estimate: RunPlan | None = None
    if request.method == "POST":
        form = CompetitionStartForm(request.POST)
        if not form.is_valid():
            messages.error(request, "The run was not started: correct the fields marked below.")
        elif form.cleaned_data["step"] == "confirm" and (response := _start(request, form)) is not None:
            return response
        elif not form.errors:  # step 1, or a run refused by the budget guard: show the estimate
            estimate = _estimate(request, form)
    else:
        form = CompetitionStartForm(initial=_initial(symbols))
    page = Paginator(selectors.hub_competition_runs(), RUN_PAGE_SIZE).get_page(request.GET.get("page"))
    runs = [{"run": run, "leader": selectors.run_leader(run)} for run in page]
    context = {
        "form": form,
        "estimate": estimate,
        "refusal": estimate.budget_refusal() if estimate else "",
        "page": page,
        "runs": runs,
        "symbols": symbols,
        "default_budget": default_budget(),
        "has_traders": form.fields["traders"].queryset.exists(),  # type: ignore[attr-defined]
    }
    # Errors come back as messages on a 200 page, as Django forms do (a 4xx would also be logged
    # as a failed resource in the browser console).
    return render(request, "hub/competitions.html", context)


def _initial(symbols: list[str]) -> dict[str, Any]:
    """A small run to start from: the first known symbol over the last week of bars."""
    end = latest_bar_date()
    if end is None:
        return {}
    return {
        "start": end - dt.timedelta(days=DEFAULT_DAYS),
        "end": end,
        "symbols": symbols[0] if symbols else "",
    }


def _run_terms(form: CompetitionStartForm) -> dict[str, Any]:
    """The run the form describes, as the arguments both ``competition_run_plan`` (step 1) and
    ``competition_run_create`` (step 2) take: one definition, so the two steps cannot disagree."""
    data = form.cleaned_data
    return {
        "traders": data["traders"],
        "symbols": data["symbols"],
        "mode": RunMode.BACKTEST,
        "start": data["start"],
        "end": data["end"],
        "budget_usd": data.get("budget_usd"),
        "use_default_budget": data.get("budget_usd") is None,
    }


def _plan(form: CompetitionStartForm) -> RunPlan:
    return competition_run_plan(**_run_terms(form))


def _estimate(request: HttpRequest, form: CompetitionStartForm) -> RunPlan | None:
    """Step 1: the run as it would be created (estimate, budget, the guard's verdict), or None with
    the refusal shown at its field."""
    try:
        return _plan(form)
    except ValidationError as exc:
        _refused(request, form, exc)
        return None


def _refused(request: HttpRequest, form: CompetitionStartForm, exc: ValidationError) -> None:
    """Show the service's refusal at the field it names, and as a message."""
    for field, errors in getattr(exc, "message_dict", {"": exc.messages}).items():
        target = field if field in form.fields else None
        for error in errors:
            form.add_error(target, error)
    messages.error(request, "The run was not started: " + " ".join(exc.messages))


def _start(request: HttpRequest, form: CompetitionStartForm) -> HttpResponse | None:
    """Create and enqueue the run; None (with the reason as a message) when it was refused."""
    data = form.cleaned_data
    try:
        run = competition_run_create(
            **_run_terms(form),
            confirm=bool(data.get("confirm_over_budget")),
            name=data.get("name") or "",
            requested_by=request.user,
        )
    except BudgetExceededError as exc:
        messages.error(request, f"Not started: {exc.message}")
        return None
    except ValidationError as exc:
        _refused(request, form, exc)
        return None
    messages.success(
        request, f"Competition #{run.pk} queued: {len(data['traders'])} trader(s) and two baselines."
    )
    return redirect("hub:competition", run_id=run.pk)


def _run_context(request: HttpRequest, run_id: int) -> dict[str, Any]:
    run = competition_run_get(run_id=run_id)
    scores = list(run.scores.all())
    decisions = Paginator(selectors.run_decisions(run), DECISION_PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "run": run,
        "scores": scores,
        "entries": list(run.entries.all()),
        "series": selectors.equity_series(run) if run.days_done or scores else [],
        "baselines": selectors.run_baseline_scores(run),
        "decisions": decisions,
        "live": not run.finished,
        "poll_interval": poll_interval_ms(),
    }


@require_GET
@staff_required
def competition_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    try:
        context = _run_context(request, int(run_id))
    except NotFoundError as exc:
        return not_found_page(request, exc.message)
    return render(request, "hub/competition_detail.html", context)


@require_GET
@staff_required
def competition_fragment(request: HttpRequest, run_id: str) -> HttpResponse:
    """The run's body alone: fetched once the polled progress says the run finished."""
    try:
        context = _run_context(request, int(run_id))
    except NotFoundError as exc:
        return not_found_page(request, exc.message)
    return render(request, "hub/_competition_body.html", context)
