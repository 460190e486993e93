"""Cross-app reads the hub needs and the apps' own selectors do not offer.

Aggregation happens in SQL (``aggregate``/``annotate`` with filtered counts), and each function
states how many queries it runs, so a page's query count stays flat however many rows there are.

Calls, tokens and spend come from the LLM call ledger (``debates.LlmCall``: one row per attempt,
retries, repairs and health checks included), so the overview counts what was actually sent and
paid for. A ledger row's ``cost_usd`` is ``NULL`` when unknown; totals then carry how many calls
are unpriced instead of pretending they cost nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Avg,
    Count,
    DecimalField,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Floor, Least, TruncDate
from django.utils import timezone

from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, Role
from arena_project.errors import NotFoundError
from arena_project.hub.charts import Series
from arena_project.hub.formatting import ratio
from competition.models import (
    BASELINE_KINDS,
    CompetitionDecision,
    CompetitionRun,
    CompetitionScore,
    EntryKind,
)
from competition.selectors import competition_run_list, equity_curves
from debates.models import (
    DebateConsensus,
    DebateMessage,
    DebateSession,
    DebateStatus,
    LlmCall,
    ToolCall,
    ValidationStatus,
)
from debates.selectors import debate_session_detail_qs, debate_session_list

ZERO = Decimal(0)
ACTIVE_STATUSES = (DebateStatus.QUEUED, DebateStatus.RUNNING)
CALLS_SOURCE = "LLM calls"  # "calls" counts ledger rows (every attempt), not answers


# --- overview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodStats:
    """What the arena did in one period: debates by outcome, and the ledger's calls, tokens and spend.

    ``cost_usd`` is the known spend of the period's LLM calls; ``unpriced_calls`` counts the calls
    whose cost is unknown (so a total is never silently low).
    """

    key: str
    label: str
    since: dt.datetime
    debates: int
    completed: int
    failed: int
    active: int
    escalated: int
    cost_usd: Decimal
    calls: int
    tokens: int | None
    unpriced_calls: int = 0
    calls_source: str = CALLS_SOURCE

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    @property
    def pass_rate(self) -> float | None:
        """Completed among finished (completed + failed) debates; None when nothing finished."""
        return ratio(self.completed, self.finished)

    @property
    def escalation_rate(self) -> float | None:
        """Escalated among completed debates (only a completed debate has a consensus)."""
        return ratio(self.escalated, self.completed)


def period_starts(now: dt.datetime | None = None) -> list[tuple[str, str, dt.datetime]]:
    """Today (local midnight) and this week (local Monday midnight), in the project's time zone."""
    local = timezone.localtime(now or timezone.now())
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - dt.timedelta(days=today.weekday())
    return [("today", "Today", today), ("week", f"This week (since {week:%a %d %b})", week)]


def overview_periods(*, now: dt.datetime | None = None) -> list[PeriodStats]:
    """Stats for today and this week. Two queries: one over sessions, one over the call ledger."""
    periods = period_starts(now)
    earliest = min(since for _, _, since in periods)
    aggregates: dict[str, Any] = {}
    for key, _, since in periods:
        recent = Q(created_at__gte=since)
        aggregates |= {
            f"{key}_debates": Count("id", filter=recent),
            f"{key}_completed": Count("id", filter=recent & Q(status=DebateStatus.COMPLETED)),
            f"{key}_failed": Count("id", filter=recent & Q(status=DebateStatus.FAILED)),
            f"{key}_active": Count("id", filter=recent & Q(status__in=ACTIVE_STATUSES)),
            f"{key}_escalated": Count("id", filter=recent & Q(consensus__escalated=True)),
        }
    row = DebateSession.objects.filter(created_at__gte=earliest).aggregate(**aggregates)
    calls = _calls_in_periods(periods, earliest)
    return [
        PeriodStats(
            key=key,
            label=label,
            since=since,
            debates=row[f"{key}_debates"],
            completed=row[f"{key}_completed"],
            failed=row[f"{key}_failed"],
            active=row[f"{key}_active"],
            escalated=row[f"{key}_escalated"],
            cost_usd=calls[f"{key}_cost"],
            calls=calls[f"{key}_calls"],
            tokens=calls[f"{key}_tokens"],
            unpriced_calls=calls[f"{key}_unpriced"],
        )
        for key, label, since in periods
    ]


def _calls_in_periods(
    periods: Sequence[tuple[str, str, dt.datetime]], earliest: dt.datetime
) -> dict[str, Any]:
    """Ledger calls, tokens (input + output), known spend and unpriced calls per period (one query).

    Every attempt counts, whatever its purpose (analysis, judge, repair, health check): each was
    sent to a provider. Tokens a provider did not report count as 0 here.
    """
    aggregates: dict[str, Any] = {}
    money = DecimalField(max_digits=20, decimal_places=10)
    for key, _, since in periods:
        recent = Q(created_at__gte=since)
        aggregates |= {
            f"{key}_calls": Count("id", filter=recent),
            f"{key}_tokens": Coalesce(
                Sum(Coalesce("input_tokens", 0) + Coalesce("output_tokens", 0), filter=recent), 0
            ),
            f"{key}_cost": Coalesce(Sum("cost_usd", filter=recent), Value(ZERO), output_field=money),
            f"{key}_unpriced": Count("id", filter=recent & Q(cost_usd__isnull=True)),
        }
    return LlmCall.objects.filter(created_at__gte=earliest).aggregate(**aggregates)


def recent_debates() -> QuerySet[DebateSession]:
    """Sessions newest first with panel and consensus joined (a page of them is one query)."""
    return debate_session_list()


def active_debates(*, limit: int = 20) -> list[DebateSession]:
    """Queued and running sessions, oldest first, each with how many answers it has so far (one query)."""
    answers = (
        DebateMessage.objects.filter(session=OuterRef("pk"))
        .order_by()
        .values("session")
        .annotate(n=Count("id"))
        .values("n")
    )
    qs = (
        DebateSession.objects.filter(status__in=ACTIVE_STATUSES)
        .select_related("panel")
        .annotate(answers=Coalesce(Subquery(answers, output_field=IntegerField()), 0))
        .order_by("created_at", "id")
    )
    return list(qs[:limit])


@dataclass(frozen=True)
class Histogram:
    edges: list[float]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


def agreement_histogram(*, bins: int = 10, since: dt.datetime | None = None) -> Histogram:
    """How often the panel agreed how much: consensus agreement rates in ``bins`` equal bins over [0, 1].

    One query: the bin index is computed in SQL (floor(rate * bins), with 1.0 in the last bin).
    """
    qs = DebateConsensus.objects.all()
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    rows = (
        qs.annotate(
            bucket=Least(
                Floor(F("agreement_rate") * Value(float(bins)), output_field=FloatField()),
                Value(float(bins - 1)),
            )
        )
        .values("bucket")
        .annotate(n=Count("id"))
        .order_by("bucket")
    )
    counts = [0] * bins
    for row in rows:
        counts[min(max(int(row["bucket"]), 0), bins - 1)] += row["n"]
    return Histogram(edges=[i / bins for i in range(bins + 1)], counts=counts)


@dataclass(frozen=True)
class DailyCost:
    day: dt.date
    debates: int
    cost_usd: Decimal


def daily_costs(*, days: int = 14, now: dt.datetime | None = None) -> list[DailyCost]:
    """Debates and their cost per local day over the last ``days`` days, zero-filled (one query)."""
    today = timezone.localdate(now or timezone.now())
    first = today - dt.timedelta(days=days - 1)
    since = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
    rows = (
        DebateSession.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("id"), cost=Sum("total_cost_usd"))
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        row = by_day.get(day)
        result.append(
            DailyCost(
                day=day, debates=row["n"] if row else 0, cost_usd=(row["cost"] or ZERO) if row else ZERO
            )
        )
    return result


# --- run details ------------------------------------------------------------------------------


def hub_debate_get(*, session_id: int) -> DebateSession:
    """One session with rounds, messages (profiles, ledger rows), tools, consensus, judge: 5 queries.

    Raises NotFoundError when there is no such session.
    """
    session = (
        debate_session_detail_qs().select_related("consensus__judge_profile").filter(pk=session_id).first()
    )
    if session is None:
        raise NotFoundError(f"No debate #{session_id}.")
    return session


@dataclass
class CostLine:
    """Cost, tokens and time of one agent's answer (all its attempts), or of a group of answers."""

    label: str
    round: int | None
    role: str
    profile: str
    tier: str
    calls: int
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    latency_ms: int
    failed_attempts: int = 0


@dataclass
class CostBreakdown:
    per_agent: list[CostLine] = field(default_factory=list)
    per_round: list[CostLine] = field(default_factory=list)
    tools_latency_ms: int = 0
    total_cost_usd: Decimal = ZERO
    cost_known: bool = True
    tokens_known: bool = False
    unattributed: CostLine | None = None


def _ledger_by_message(session: DebateSession) -> dict[int | None, dict[str, Any]]:
    """The session's ledger summed per message in SQL (one query): attempts, tokens, cost, latency.

    Key ``None`` holds attempts linked to the session but to no answer (a call whose result was
    thrown away). ``unpriced`` counts attempts with an unknown cost, ``unreported`` those without
    token counts.
    """
    rows = (
        LlmCall.objects.filter(session=session)
        .order_by()
        .values("message_id")
        .annotate(
            calls=Count("id"),
            tokens_in=Sum("input_tokens"),
            tokens_out=Sum("output_tokens"),
            cost=Sum("cost_usd"),
            unpriced=Count("id", filter=Q(cost_usd__isnull=True)),
            unreported=Count("id", filter=Q(input_tokens__isnull=True)),
            failed=Count("id", filter=~Q(status__in=_GOOD_STATUSES)),
            latency=Sum("latency_ms"),
        )
    )
    return {row["message_id"]: dict(row) for row in rows}


_GOOD_STATUSES = ("ok", "repaired")


def _ledger_line(label: str, message: DebateMessage | None, row: dict[str, Any]) -> CostLine:
    priced = row["unpriced"] == 0
    reported = row["unreported"] == 0
    return CostLine(
        label=label,
        round=message.round if message else None,
        role=message.role if message else "",
        profile=message.profile.name if message else "",
        tier=message.profile.tier if message else "",
        calls=row["calls"],
        input_tokens=row["tokens_in"] if reported else None,
        output_tokens=row["tokens_out"] if reported else None,
        cost_usd=(row["cost"] or ZERO) if priced else None,
        latency_ms=row["latency"] or 0,
        failed_attempts=row["failed"],
    )


def debate_cost_breakdown(session: DebateSession) -> CostBreakdown:
    """Calls, tokens, cost and latency per agent and per round, from the LLM call ledger.

    One query (the ledger summed per message in SQL); the answers come from the session's prefetched
    messages (:func:`hub_debate_get`). An answer with no ledger rows (recorded before the ledger
    existed) falls back to its own cost and latency, with tokens unknown. A ``None`` cost means
    "unknown" and makes the totals say so.
    """
    ledger = _ledger_by_message(session)
    breakdown = CostBreakdown(tokens_known=bool(ledger))
    rounds: dict[int, list[CostLine]] = defaultdict(list)
    messages = list(session.messages.all())
    for message in messages:
        row = ledger.get(message.pk)
        if row is not None:
            line = _ledger_line(message.get_role_display(), message, row)
        else:
            line = CostLine(
                label=message.get_role_display(),
                round=message.round,
                role=message.role,
                profile=message.profile.name,
                tier=message.profile.tier,
                calls=1,
                input_tokens=None,
                output_tokens=None,
                cost_usd=message.cost_usd,
                latency_ms=message.latency_ms,
            )
        breakdown.per_agent.append(line)
        rounds[message.round].append(line)
    for round_no, lines in sorted(rounds.items()):
        breakdown.per_round.append(_sum_lines(f"Round {round_no}", round_no, lines))
    if None in ledger:
        breakdown.unattributed = _ledger_line("Not linked to an answer", None, ledger[None])
    # the total is every known cost (an answer's priced attempts count even when another is unpriced)
    fallback = [m.cost_usd for m in messages if m.pk not in ledger]
    breakdown.total_cost_usd = sum((row["cost"] or ZERO for row in ledger.values()), ZERO) + sum(
        (c for c in fallback if c is not None), ZERO
    )
    breakdown.cost_known = None not in fallback and all(row["unpriced"] == 0 for row in ledger.values())
    breakdown.tools_latency_ms = sum(call.latency_ms for call in session.tool_calls.all())
    return breakdown


def _sum_lines(label: str, round_no: int, lines: list[CostLine]) -> CostLine:
    """A round's total: calls, tokens and known cost summed; wall time = slowest analyst + judge."""
    ins = [line.input_tokens for line in lines]
    outs = [line.output_tokens for line in lines]
    costs = [line.cost_usd for line in lines]
    return CostLine(
        label=label,
        round=round_no,
        role="",
        profile="",
        tier="",
        calls=sum(line.calls for line in lines),
        input_tokens=None if None in ins else sum(i for i in ins if i is not None),
        output_tokens=None if None in outs else sum(o for o in outs if o is not None),
        cost_usd=None if None in costs else sum((c for c in costs if c is not None), ZERO),
        # analysts answer in parallel and the judge after them: a round lasts its slowest
        # analyst plus its judge
        latency_ms=_round_wall_time(lines),
        failed_attempts=sum(line.failed_attempts for line in lines),
    )


def _round_wall_time(lines: Iterable[CostLine]) -> int:
    analysts = [line.latency_ms for line in lines if line.role != Role.JUDGE]
    judges = [line.latency_ms for line in lines if line.role == Role.JUDGE]
    return max(analysts, default=0) + sum(judges)


@dataclass(frozen=True)
class TimelineEntry:
    label: str
    kind: str
    start_ms: int
    duration_ms: int
    detail: str = ""


def debate_timeline(session: DebateSession) -> list[TimelineEntry]:
    """The order of a debate's calls: tools, then each round's analysts in parallel, then its judge.

    Each answer is drawn as its ledger attempts one after another (a retry or a repair after the
    failed attempt, in its own colour), each as long as the provider took. Start times are derived
    from recorded latencies, not clocked (the ledger stores when a call was recorded, not when it
    started); the page says so. No query of its own: messages, their ledger rows and the tool calls
    are prefetched by :func:`hub_debate_get`.
    """
    entries: list[TimelineEntry] = []
    clock = 0
    for call in session.tool_calls.all():
        entries.append(
            TimelineEntry(
                f"{call.tool} #{call.sequence}", "tool", clock, call.latency_ms, call.result_summary
            )
        )
        clock += call.latency_ms
    rounds: dict[int, list[DebateMessage]] = defaultdict(list)
    for message in session.messages.all():
        rounds[message.round].append(message)
    for round_no, messages in sorted(rounds.items()):
        kind = "analyst" if round_no == 1 else "escalation"
        slowest = 0
        for m in messages:
            if m.role != Role.JUDGE:
                label = f"R{round_no} {m.get_role_display()}"
                slowest = max(slowest, _answer_entries(entries, m, label, kind, clock))
        clock += slowest
        for m in messages:
            if m.role == Role.JUDGE:
                clock += _answer_entries(entries, m, f"R{round_no} Judge", "judge", clock)
    return entries


def _answer_entries(
    entries: list[TimelineEntry],
    message: DebateMessage,
    label: str,
    kind: str,
    start: int,
) -> int:
    """Append one answer's spans (one per ledger attempt, or one for the answer); return its length."""
    detail = f"{message.profile.name}, {message.get_validation_status_display()}"
    tries = list(message.llm_calls.all())
    if not tries:
        entries.append(TimelineEntry(label, kind, start, message.latency_ms, detail))
        return message.latency_ms
    clock = start
    for t in tries:
        span_kind = kind if t.status in _GOOD_STATUSES else "failed"
        suffix = "" if len(tries) == 1 else f" #{t.attempt}"
        entries.append(
            TimelineEntry(
                f"{label}{suffix}",
                span_kind,
                clock,
                t.latency_ms,
                f"{message.profile.name}, {t.purpose} attempt {t.attempt}: {t.status}",
            )
        )
        clock += t.latency_ms
    return clock - start


# --- strategies -------------------------------------------------------------------------------

_STAGE_ORDER = {stage: i for i, stage in enumerate(PanelStage.values)}
_ROLE_ORDER = {role: i for i, role in enumerate(Role.values)}


def panel_results() -> QuerySet[Panel]:
    """Panels with their seats and results: debates, completed, failed, escalated, mean agreement, cost.

    Two queries per page (panels with aggregates, then seats with profiles). The consensus join is
    one-to-one, so the counts over sessions are not multiplied.
    """
    seats = PanelSeat.objects.select_related("profile")
    return (
        Panel.objects.annotate(
            debates=Count("sessions"),
            completed=Count("sessions", filter=Q(sessions__status=DebateStatus.COMPLETED)),
            failed=Count("sessions", filter=Q(sessions__status=DebateStatus.FAILED)),
            escalated=Count("sessions", filter=Q(sessions__consensus__escalated=True)),
            avg_agreement=Avg("sessions__consensus__agreement_rate"),
            cost_usd=Sum("sessions__total_cost_usd"),
            last_debate_at=Max("sessions__created_at"),
        )
        .prefetch_related(Prefetch("seats", queryset=seats))
        .order_by("-is_default", "name")
    )


def sorted_seats(panel: Panel) -> list[PanelSeat]:
    """A panel's prefetched seats in debate order: stage, then the role order of the Role enum."""
    return sorted(
        panel.seats.all(), key=lambda s: (_STAGE_ORDER.get(s.stage, 99), _ROLE_ORDER.get(s.role, 99))
    )


_PANEL_NON_POLICY = {"id", "name", "description", "is_default", "created_at", "updated_at"}


def panel_policy(panel: Panel) -> list[tuple[str, Any, str]]:
    """The panel's policy fields as (label, value, help text): every concrete field but identity.

    Read from the model's fields, so settings a later migration adds (escalation triggers and their
    thresholds) appear on the strategies page without a template change.
    """
    rows = []
    for f in Panel._meta.concrete_fields:
        if f.name in _PANEL_NON_POLICY or f.is_relation:
            continue
        rows.append((str(f.verbose_name).capitalize(), getattr(panel, f.attname), str(f.help_text)))
    return rows


# --- agent activity (leaderboard until outcomes exist) ---------------------------------------

WINDOWS = {
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
    "all": None,
}
ACTIVITY_SORTS = ("answers", "valid", "confidence", "cost", "latency", "name")


@dataclass(frozen=True)
class ActivityRow:
    """What one agent profile did in a window: its answers, how many validated, cost and speed."""

    profile: AgentProfile
    answers: int
    valid_answers: int
    repaired: int
    avg_confidence: float | None
    cost_usd: Decimal | None
    avg_latency_ms: float | None

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def valid_share(self) -> float | None:
        return ratio(self.valid_answers, self.answers)


def _sort_key(sort: str) -> Callable[[ActivityRow], Any]:
    """Largest first, except latency (fastest first) and name; missing values last; ties by name."""
    keys: dict[str, Callable[[ActivityRow], Any]] = {
        "answers": lambda r: -r.answers,
        "valid": lambda r: -(r.valid_share or 0.0),
        "confidence": lambda r: -(r.avg_confidence if r.avg_confidence is not None else -1.0),
        "cost": lambda r: -(r.cost_usd if r.cost_usd is not None else Decimal(-1)),
        "latency": lambda r: r.avg_latency_ms if r.avg_latency_ms is not None else float("inf"),
        "name": lambda r: 0,
    }
    key = keys.get(sort, keys["answers"])
    return lambda r: (key(r), r.profile.name)


def profile_activity(
    *,
    window: str = "all",
    role: str = "",
    provider: str = "",
    tier: str = "",
    symbol: str = "",
    sort: str = "answers",
    now: dt.datetime | None = None,
) -> list[ActivityRow]:
    """Per agent profile: answers, valid share, repairs, mean confidence, cost and latency. Two queries.

    The answers are grouped by ``profile_id`` alone (one integer column, which SQLite groups far faster
    than every column of a profile), then the profiles with an answer are fetched by id. Filters narrow
    the answers counted (window, symbol) or the profiles (role, provider, tier); profiles without an
    answer are left out. Unknown ``window``/``sort`` values fall back to the defaults. The result has
    one row per profile, so it is sorted here.
    """
    answers = DebateMessage.objects.all()
    delta = WINDOWS.get(window)
    if delta is not None:
        answers = answers.filter(created_at__gte=(now or timezone.now()) - delta)
    if symbol:
        answers = answers.filter(session__symbol=symbol.strip().upper())
    profile_filter = {k: v for k, v in (("role", role), ("provider", provider), ("tier", tier)) if v}
    if profile_filter:
        answers = answers.filter(profile_id__in=AgentProfile.objects.filter(**profile_filter).values("pk"))
    valid = Q(validation_status__in=[ValidationStatus.VALID, ValidationStatus.REPAIRED])
    stats = list(
        answers.order_by()
        .values("profile_id")
        .annotate(
            answers=Count("id"),
            valid_answers=Count("id", filter=valid),
            repaired=Count("id", filter=Q(validation_status=ValidationStatus.REPAIRED)),
            avg_confidence=Avg("confidence", filter=valid),
            cost_usd=Sum("cost_usd"),
            avg_latency_ms=Avg("latency_ms"),
        )
    )
    profiles = AgentProfile.objects.in_bulk([row["profile_id"] for row in stats])
    rows = [
        ActivityRow(
            profile=profiles[row["profile_id"]],
            answers=row["answers"],
            valid_answers=row["valid_answers"],
            repaired=row["repaired"],
            avg_confidence=row["avg_confidence"],
            cost_usd=row["cost_usd"],
            avg_latency_ms=row["avg_latency_ms"],
        )
        for row in stats
    ]
    return sorted(rows, key=_sort_key(sort))


# --- tools ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolStats:
    tool: str
    calls: int
    errors: int
    avg_latency_ms: float | None
    max_latency_ms: int | None
    last_called_at: dt.datetime | None

    @property
    def error_rate(self) -> float | None:
        return ratio(self.errors, self.calls)


def tool_stats(*, tool_names: Sequence[str]) -> list[ToolStats]:
    """Calls, errors and latency per tool over every recorded call (one query).

    ``tool_names`` are the router's tools, listed even before their first call; a recorded tool the
    router no longer offers is listed too, after them.
    """
    rows = {
        row["tool"]: row
        for row in ToolCall.objects.order_by()
        .values("tool")
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=~Q(error="")),
            avg_latency=Avg("latency_ms"),
            max_latency=Max("latency_ms"),
            last=Max("created_at"),
        )
    }
    names = [*tool_names, *sorted(set(rows) - set(tool_names))]
    result = []
    for name in names:
        row = rows.get(name)
        result.append(
            ToolStats(
                tool=name,
                calls=row["calls"] if row else 0,
                errors=row["errors"] if row else 0,
                avg_latency_ms=row["avg_latency"] if row else None,
                max_latency_ms=row["max_latency"] if row else None,
                last_called_at=row["last"] if row else None,
            )
        )
    return result


# --- competitions -------------------------------------------------------------------------------


def hub_competition_runs() -> QuerySet[CompetitionRun]:
    """Runs newest first with their entries and ranked scores: three queries per page of runs
    (runs, entries, scores), whatever the page size."""
    return competition_run_list().prefetch_related(
        Prefetch("scores", queryset=CompetitionScore.objects.select_related("entry").order_by("rank"))
    )


def run_leader(run: CompetitionRun) -> CompetitionScore | None:
    """The run's best-ranked trader (not a baseline), from the prefetched scores; no query."""
    for score in run.scores.all():
        if score.entry.kind == EntryKind.TRADER:
            return score
    return None


def run_baseline_scores(run: CompetitionRun) -> dict[str, CompetitionScore]:
    """The baselines' scores by entry kind, from the prefetched scores; no query."""
    return {s.entry.kind: s for s in run.scores.all() if s.entry.kind in BASELINE_KINDS}


def equity_series(run: CompetitionRun) -> list[Series]:
    """One line per entry (traders first, then the baselines, as entered), x = the day's ordinal,
    y = equity at the close. One query (``equity_curves``); entries come prefetched with the run."""
    curves = equity_curves(run=run)
    return [
        Series(entry.label, [(float(p.date.toordinal()), float(p.equity)) for p in curves.get(entry.pk, [])])
        for entry in run.entries.all()
    ]


def run_decisions(run: CompetitionRun) -> QuerySet[CompetitionDecision]:
    """The run's decisions, newest day first, with their entry (for a paginated table)."""
    return (
        CompetitionDecision.objects.filter(entry__run=run)
        .select_related("entry")
        .order_by("-date", "entry_id", "symbol")
    )
