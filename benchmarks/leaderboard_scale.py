"""Leaderboard at scale: 1,000,000 LLM call rows and 100,000 decisions with outcomes (PostgreSQL).

Loads the rows with COPY (once; a rerun reuses them unless --reload), builds the rollup from scratch
(timed), checks that the rollup's answer equals the raw aggregation's for every timed query, then
times ``GET /api/admin/arena/leaderboard`` for several windows against a trivial DRF endpoint (same
authentication and permission, no query of its own) in the same process, requests interleaved,
through Django's full request stack. Target (issues 5/6 and 7): leaderboard p50 <= 2x the trivial
endpoint's p50. Besides wall time it reports each endpoint's CPU time per request (this process,
``time.process_time``) and the PostgreSQL backend's (from /proc, when the server is local): on a
shared machine those move far less with the load than the wall time.

The headline is the **computed** path: the answer cache off, every request runs its query. The
figures with the 30-second answer cache on follow, labelled as such.

    .venv/bin/python benchmarks/leaderboard_scale.py
    .venv/bin/python benchmarks/leaderboard_scale.py --requests 300 --reload
    .venv/bin/python benchmarks/leaderboard_scale.py --decisions 10000 --calls 100000   # a quick run
    .venv/bin/python benchmarks/leaderboard_scale.py --no-rebuild --profile 300   # rows reused, profiled
    BENCH_DATABASE_URL=postgres://127.0.0.1/other .venv/bin/python benchmarks/leaderboard_scale.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from _setup import django_setup

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/arena_bench_leaderboard"
DECISIONS = 100_000
CALLS = 1_000_000
DAYS = 365
SYMBOLS = ["ACME", "BOLT", "CYAN", "DUNE", "EPIC", "FLUX"]
ANALYSTS = ["bull", "bear", "risk_manager", "technical_analyst", "fundamental_analyst"]
MARKER = "lb-bench-judge-openai"


def _copy(model: Any, rows: Iterable[dict[str, Any]]) -> int:
    """COPY ``rows`` into ``model``'s table; columns missing from a row get the field's default."""
    from django.db import connection

    fields = list(model._meta.concrete_fields)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    count = 0
    raw = connection.connection  # the psycopg connection under Django's
    with raw.cursor() as cursor, cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            values = []
            for f in fields:
                value = row[f.attname] if f.attname in row else f.get_default()
                values.append(f.get_db_prep_save(value, connection))
            copy.write_row(values)
            count += 1
    return count


def _next_id(model: Any) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("id"))["m"] or 0) + 1


def _reset_sequences(*models: Any) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models)):
            cursor.execute(sql)


def load(now: dt.datetime, seed: int = 1, decisions: int = DECISIONS, calls_total: int = CALLS) -> None:
    """``decisions`` decisions (sessions, consensus, 6-8 messages, an outcome each) and
    ``calls_total`` ledger calls, spread over the last year."""
    from django.db import connection, transaction

    from agents.models import AgentProfile, Panel, Provider, Role, Tier
    from debates.models import DebateConsensus, DebateMessage, DebateSession, LlmCall
    from outcomes.models import Outcome
    from outcomes.services import trading_account_default_get

    rng = random.Random(seed)
    panel, _ = Panel.objects.get_or_create(name="lb-bench")
    profiles: dict[tuple[str, str], AgentProfile] = {}
    for role in [*ANALYSTS, Role.JUDGE]:
        for provider, tier, model in (
            ("openai", Tier.CHEAP, "gpt-4o-mini"),
            ("anthropic", Tier.POWERFUL, "claude-x"),
        ):
            profiles[(role, provider)], _ = AgentProfile.objects.get_or_create(
                name=f"lb-bench-{role.replace('_', '-')}-{provider}",
                defaults={"role": role, "provider": Provider(provider), "model": model, "tier": tier},
            )
    account = trading_account_default_get()
    session_id, consensus_id, message_id = (
        _next_id(DebateSession),
        _next_id(DebateConsensus),
        _next_id(DebateMessage),
    )
    start = now - dt.timedelta(days=DAYS)
    span = (now - start).total_seconds()
    stamps = sorted(start + dt.timedelta(seconds=rng.random() * span) for _ in range(decisions))
    sessions, consensuses, messages, calls, outcomes = [], [], [], [], []
    calls_left = calls_total
    for i, at in enumerate(stamps):
        sid, cid = session_id + i, consensus_id + i
        symbol = rng.choice(SYMBOLS)
        escalated = rng.random() < 0.15
        action = rng.choice(["buy", "sell", "hold"])
        judge = profiles[("judge", "anthropic" if escalated else "openai")]
        sessions.append(
            {
                "id": sid,
                "created_at": at,
                "updated_at": at,
                "symbol": symbol,
                "as_of": at.date(),
                "panel_id": panel.pk,
                "status": "completed",
            }
        )
        consensuses.append(
            {
                "id": cid,
                "created_at": at,
                "updated_at": at,
                "session_id": sid,
                "judge_profile_id": judge.pk,
                "action": action,
                "size": 0.5,
                "confidence": round(rng.random(), 3),
                "rationale": "bench",
                "agreement_rate": 0.6,
                "valid_analysts": 5,
                "escalated": escalated,
            }
        )
        seats = [(1, role, profiles[(role, "openai")]) for role in ANALYSTS]
        if escalated:
            seats += [(2, role, profiles[(role, "anthropic")]) for role in rng.sample(ANALYSTS, 2)]
        seats.append((1, "judge", judge))
        own: list[tuple[int, Any]] = []
        for round_no, role, profile in seats:
            stance = "" if role == "judge" else rng.choice(["bullish", "bearish", "neutral"])
            messages.append(
                {
                    "id": message_id,
                    "created_at": at,
                    "updated_at": at,
                    "session_id": sid,
                    "round": round_no,
                    "role": role,
                    "profile_id": profile.pk,
                    "stance": stance,
                    "confidence": round(rng.random(), 3),
                    "validation_status": "valid",
                }
            )
            own.append((message_id, profile))
            message_id += 1
        n_calls = calls_left // (decisions - i)
        calls_left -= n_calls
        for k in range(n_calls):
            mid, profile = own[k % len(own)]
            priced = rng.random() > 0.02
            calls.append(
                {
                    "created_at": at,
                    "updated_at": at,
                    "profile_id": profile.pk,
                    "session_id": sid,
                    "message_id": mid,
                    "role": profile.role,
                    "purpose": "analysis",
                    "provider": profile.provider,
                    "model": profile.model,
                    "attempt": 1 + k // len(own),
                    "status": "ok",
                    "input_tokens": 3000 + rng.randrange(2000),
                    "output_tokens": 200 + rng.randrange(400),
                    "cost_usd": Decimal(rng.randrange(1, 4000)) / Decimal(1_000_000) if priced else None,
                    "latency_ms": 300 + rng.randrange(3000),
                }
            )
        if rng.random() < 0.95:
            entry = Decimal(100) + Decimal(rng.randrange(-2000, 2000)) / 100
            exit_ = (entry * Decimal(str(1 + rng.gauss(0, 0.03)))).quantize(Decimal("0.0001"))
            move = exit_ / entry - 1
            hypothetical = action == "hold"
            ret = move if action == "buy" else -move if action == "sell" else move
            status = "win" if ret > Decimal("0.001") else "loss" if ret < Decimal("-0.001") else "flat"
            outcomes.append(
                {
                    "created_at": at,
                    "updated_at": at,
                    "consensus_id": cid,
                    "account_id": account.pk,
                    "status": status,
                    "basis": "forward_return" if hypothetical else "mark_to_market",
                    "hypothetical": hypothetical,
                    "horizon_bars": 5,
                    "horizon_date": at.date(),
                    "entry_price": entry,
                    "exit_price": exit_,
                    "pnl_amount": Decimal(0) if hypothetical else (ret * 1000).quantize(Decimal("0.01")),
                    "pnl_return": ret.quantize(Decimal("0.000001")),
                    "settled_at": at,
                }
            )
        else:
            outcomes.append(
                {
                    "created_at": at,
                    "updated_at": at,
                    "consensus_id": cid,
                    "account_id": account.pk,
                    "status": "pending",
                    "horizon_bars": 5,
                }
            )
    with transaction.atomic():
        counts = [
            _copy(DebateSession, sessions),
            _copy(DebateConsensus, consensuses),
            _copy(DebateMessage, messages),
            _copy(Outcome, _with_ids(outcomes, _next_id(Outcome))),
            _copy(LlmCall, _with_ids(calls, _next_id(LlmCall))),
        ]
        _reset_sequences(DebateSession, DebateConsensus, DebateMessage, Outcome, LlmCall)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"loaded: {counts[0]} decisions, {counts[2]} messages, {counts[3]} outcomes, {counts[4]} LLM calls")


def _with_ids(rows: list[dict[str, Any]], first: int) -> Iterator[dict[str, Any]]:
    for offset, row in enumerate(rows):
        yield {"id": first + offset, **row}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _backend_cpu_s() -> float | None:
    """CPU seconds the PostgreSQL backend serving this process has used (user + system, from
    /proc: 10 ms ticks, so read it over many requests), or None when it cannot be read (a remote
    server)."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Timing:
    """One endpoint's samples: wall and this process's CPU per request, in ms."""

    wall: list[float]
    cpu: list[float]
    backend_cpu_ms: float | None = None  # the database backend's CPU per request (mean)

    @property
    def p50(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_p50(self) -> float:
        return statistics.median(self.cpu)


def _timed(client: Any, url: str, timing: Timing) -> None:
    c0, t0 = time.process_time(), time.perf_counter()
    client.get(url)
    timing.wall.append((time.perf_counter() - t0) * 1000)
    timing.cpu.append((time.process_time() - c0) * 1000)


def _time(client: Any, query: str, requests: int) -> tuple[Timing, Timing]:
    """Interleave leaderboard and trivial requests; print both endpoints' p50/p95 wall time, the
    ratio of the p50s, and each one's CPU time per request (this process; load-independent) with
    their ratio. The database backend's CPU is read over a separate run of each endpoint."""
    url = f"/api/admin/arena/leaderboard?{query}"
    for _ in range(10):  # warm-up: connections, caches, plans
        assert client.get(url).status_code == 200
        assert client.get("/bench/trivial").status_code == 200
    board, trivial = Timing([], []), Timing([], [])
    for _ in range(requests):
        _timed(client, url, board)
        _timed(client, "/bench/trivial", trivial)
    for timing, target in ((board, url), (trivial, "/bench/trivial")):
        before = _backend_cpu_s()
        for _ in range(requests):
            client.get(target)
        after = _backend_cpu_s()
        if before is not None and after is not None:
            timing.backend_cpu_ms = (after - before) * 1000 / requests
    (b50, b95), (t50, t95) = _percentiles(board.wall), _percentiles(trivial.wall)
    print(
        f"{'leaderboard ' + query:<48} {b50:>8.2f} {b95:>8.2f} {b50 / t50:>13.2f}x "
        f"{board.cpu_p50:>8.2f} {board.cpu_p50 / trivial.cpu_p50:>8.2f}x {_ms(board.backend_cpu_ms):>9}"
    )
    print(
        f"{'  trivial DRF endpoint (same run)':<48} {t50:>8.2f} {t95:>8.2f} {'':>14} "
        f"{trivial.cpu_p50:>8.2f} {'':>9} {_ms(trivial.backend_cpu_ms):>9}"
    )
    return board, trivial


def _profile(client: Any, url: str, requests: int) -> None:
    """cProfile ``requests`` requests of ``url`` by CPU time (waits on the database excluded)."""
    import cProfile
    import pstats

    for _ in range(10):
        client.get(url)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        client.get(url)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _check_rollup_equals_raw(queries: list[str], now: dt.datetime) -> None:
    """The rollup's answer must be the raw aggregation's at this scale too (one raw run per query)."""
    from django.http import QueryDict

    from competition.api.serializers import LeaderboardQueryInputSerializer
    from competition.selectors import LeaderboardQuery, leaderboard_rows

    for text in queries:
        parsed = LeaderboardQueryInputSerializer(data=QueryDict(text).dict())
        parsed.is_valid(raise_exception=True)
        query = LeaderboardQuery(**parsed.validated_data)
        started = time.perf_counter()
        raw = leaderboard_rows(query=query, now=now, source="raw")
        raw_ms = (time.perf_counter() - started) * 1000
        rolled = leaderboard_rows(query=query, now=now, source="rollup")
        same = len(raw.rows) == len(rolled.rows) and raw.baseline == rolled.baseline
        same = same and all(_close(a, b) for a, b in zip(raw.rows, rolled.rows, strict=False))
        print(f"rollup == raw for {text:<40} {'yes' if same else 'NO'}  (raw aggregation: {raw_ms:.0f} ms)")
        if not same:
            raise SystemExit(f"the rollup's answer differs from the raw aggregation's for {text}")


def _close(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 and Decimals to 1e-6 (sums added in another order differ in the last
    bits, which a quantized dollar figure can carry into its last digit)."""
    import dataclasses
    import math

    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        fields = [f.name for f in dataclasses.fields(a)]
        return all(_close(getattr(a, f), getattr(b, f)) for f in fields)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return abs(a - b) <= Decimal("0.000001")
    return bool(a == b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="Timed requests per endpoint and query.")
    parser.add_argument("--reload", action="store_true", help="Load the rows again even if present.")
    parser.add_argument("--decisions", type=int, default=DECISIONS, help="Decisions to load.")
    parser.add_argument("--calls", type=int, default=CALLS, help="LLM call rows to load.")
    parser.add_argument(
        "--no-rebuild", action="store_true", help="Keep the rollup as it is (refresh changed days only)."
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="Also profile N computed requests of window=30d (cProfile, CPU time) and print the top.",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    django_setup(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))

    from django.contrib.auth.models import User
    from django.test import Client, override_settings
    from django.urls import clear_url_caches, path
    from django.utils import timezone
    from rest_framework.authtoken.models import Token
    from rest_framework.permissions import IsAdminUser
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from arena_project import urls
    from competition.models import LeaderboardDaily
    from competition.services.rollup import leaderboard_rollup_refresh
    from debates.models import DebateConsensus, LlmCall

    now = timezone.now()
    if args.reload or LlmCall.objects.filter(profile__name=MARKER).count() < 10:
        started = time.perf_counter()
        load(now, decisions=args.decisions, calls_total=args.calls)
        print(f"load: {time.perf_counter() - started:.1f} s")
    print(f"rows: {DebateConsensus.objects.count()} decisions, {LlmCall.objects.count()} LLM calls")
    started = time.perf_counter()
    # The rows were written with past timestamps, which only a full rebuild sees.
    summary = leaderboard_rollup_refresh(full=not args.no_rebuild)
    day_rows = LeaderboardDaily.objects.filter(grain="day").count()
    hour_rows = LeaderboardDaily.objects.filter(grain="hour").count()
    print(
        f"rollup {'refresh' if args.no_rebuild else 'full rebuild'}: {summary} in "
        f"{time.perf_counter() - started:.1f} s ({day_rows} day rows, {hour_rows} hour rows)"
    )

    class TrivialApi(APIView):
        permission_classes = [IsAdminUser]

        def get(self, request: Request) -> Response:
            return Response({"ok": True})

    urls.urlpatterns.append(path("bench/trivial", TrivialApi.as_view()))
    clear_url_caches()
    staff, _ = User.objects.get_or_create(username="lb-bench-staff", defaults={"is_staff": True})
    token, _ = Token.objects.get_or_create(user=staff)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    queries = [
        "window=30d",
        "window=24h",
        "window=7d",
        "window=all",
        "window=all&symbol=ACME",
        "window=30d&role=bull&sort=-cost_usd",
        "window=7d&provider=anthropic&tier=powerful",
        "from=" + (now - dt.timedelta(days=90)).date().isoformat() + "&to=" + now.date().isoformat(),
        "kind=traders&window=30d",
    ]
    _check_rollup_equals_raw(queries, timezone.now())
    if args.profile:
        with override_settings(ARENA_LEADERBOARD_CACHE_SECONDS=0):
            _profile(client, "/api/admin/arena/leaderboard?window=30d", args.profile)
    print(
        f"{'endpoint':<48} {'p50 ms':>8} {'p95 ms':>8} {'p50 / trivial':>14} {'CPU ms':>8} "
        f"{'CPU / tr.':>9} {'DB CPU ms':>9}"
    )
    print("(CPU: this process's CPU time per request, p50; DB CPU: the PostgreSQL backend's, mean)")
    ratios: dict[int, list[float]] = {}
    cpu_ratios: dict[int, list[float]] = {}
    for cache_seconds in (0, 30):
        print(
            f"-- ARENA_LEADERBOARD_CACHE_SECONDS={cache_seconds}"
            + (
                " (headline: every request computes its answer from the rollup)"
                if not cache_seconds
                else " (cached answers: NOT the computed path)"
            )
        )
        with override_settings(ARENA_LEADERBOARD_CACHE_SECONDS=cache_seconds):
            for query in queries:
                board, trivial = _time(client, query, args.requests)
                ratios.setdefault(cache_seconds, []).append(board.p50 / trivial.p50)
                cpu_ratios.setdefault(cache_seconds, []).append(board.cpu_p50 / trivial.cpu_p50)
    worst = max(ratios[0])
    load_average = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"computed path: worst p50 ratio {worst:.2f}x "
        f"({'meets' if worst <= 2 else 'misses'} the 2x target), worst CPU ratio {max(cpu_ratios[0]):.2f}x; "
        f"cached: worst {max(ratios[30]):.2f}x (CPU {max(cpu_ratios[30]):.2f}x); "
        f"load average now {load_average}"
    )
    rows = client.get("/api/admin/arena/leaderboard?window=30d").json()
    print(
        f"30d: {rows['count']} agent profiles; top: {rows['results'][0]['name']} "
        f"{rows['results'][0]['rank_label']}"
    )


if __name__ == "__main__":
    main()
