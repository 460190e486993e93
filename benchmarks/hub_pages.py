"""Query count and server time of every AdminHub page and JSON twin, on the database you point it at.

By default the project's own database (the demo's SQLite file after ``manage.py demo``). Signs in as
the first staff superuser through Django's test client, counts each page's queries once (session and
user lookups included), then times ``--runs`` renders with query logging off and prints a Markdown
table (median and p95 in ms) ready for docs/hub.md.

    DEBUG=1 .venv/bin/python manage.py migrate && DEBUG=1 .venv/bin/python manage.py demo
    DEBUG=1 .venv/bin/python benchmarks/hub_pages.py --runs 30

The leaderboard is measured with its answer cache off (every request computes the rankings);
``--leaderboard-cache`` keeps ARENA_LEADERBOARD_CACHE_SECONDS as configured.

``--grow N`` first copies the existing debates until there are N more (rows written straight to the
database, like a busy arena), to show that the query counts stay flat. Use it on a scratch database:
    DATABASE_URL=sqlite:///var/hub-big.sqlite3 DEBUG=1 .venv/bin/python benchmarks/hub_pages.py --grow 20000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--grow", type=int, default=0, help="Add this many copied debates first.")
    parser.add_argument(
        "--leaderboard-cache",
        action="store_true",
        help="Keep ARENA_LEADERBOARD_CACHE_SECONDS (default: 0, so every request computes the rankings).",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena_project.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from competition.models import CompetitionRun, TraderProfile
    from debates.models import DebateSession

    # Keep one connection across requests, as a server with CONN_MAX_AGE does (and as Django's own
    # test runner does): otherwise every request reconnects and the query log starts afresh.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    if args.grow:
        call_command("migrate", verbosity=0, interactive=False)
        _grow(args.grow)
    admin = get_user_model().objects.filter(is_staff=True, is_superuser=True).order_by("pk").first()
    if admin is None:
        raise SystemExit("No staff superuser: run `DEBUG=1 .venv/bin/python manage.py demo` first.")
    latest = DebateSession.objects.order_by("-pk").values_list("pk", flat=True).first()
    if latest is None:
        raise SystemExit("No debates: run `DEBUG=1 .venv/bin/python manage.py demo` first.")
    if not args.leaderboard_cache:
        settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0
    run = CompetitionRun.objects.order_by("-pk").values_list("pk", flat=True).first()
    trader = TraderProfile.objects.filter(active=True).order_by("name").values_list("name", flat=True).first()
    client = Client()
    client.force_login(admin)
    bars = {"tool": "get_bars", "symbol": "ACME", "as_of": "2025-06-02", "lookback": "60"}
    pages: list[tuple[str, str, dict[str, Any] | None]] = [
        ("Overview", "/hub/", None),
        ("Running debates fragment (polled)", "/hub/active/", None),
        ("Run details", f"/hub/debates/{latest}/", None),
        ("Run details fragment (polled while live)", f"/hub/debates/{latest}/live/", None),
        ("Strategies", "/hub/strategies/", None),
        ("Tools", "/hub/tools/", None),
        ("Tools: try get_bars (POST)", "/hub/tools/", bars),
        ("Leaderboard (rankings, charts, activity)", "/hub/leaderboard/", None),
        ("Leaderboard, all time", "/hub/leaderboard/?window=all", None),
        ("Leaderboard, 7d + role + sort", "/hub/leaderboard/?window=7d&role=bull&sort=cost_usd", None),
        ("Leaderboard, traders", "/hub/leaderboard/?kind=traders&window=all", None),
        ("Competitions (runs, start form)", "/hub/competitions/", None),
        ("API overview", "/api/admin/arena/overview", None),
        ("API runs (page of 50)", "/api/admin/arena/runs", None),
        ("API run detail", f"/api/admin/arena/runs/{latest}", None),
    ]
    if run is not None:
        pages += [
            ("Competition (scores, curves, decisions)", f"/hub/competitions/{run}/", None),
            ("Competition fragment (fetched when a run ends)", f"/hub/competitions/{run}/live/", None),
            ("API competition progress (polled)", f"/api/admin/arena/competitions/{run}", None),
        ]
    if trader is not None:
        estimate = {"step": "estimate", "traders": trader, "symbols": "ACME", "start": "2024-03-04"}
        estimate["end"] = "2024-03-28"
        pages.append(("Competitions: cost estimate (POST, step 1)", "/hub/competitions/", estimate))

    def fetch(path: str, data: dict[str, Any] | None) -> int:
        response = client.post(path, data) if data is not None else client.get(path)
        return response.status_code

    debates = DebateSession.objects.count()
    print(f"{debates:,} debates on {connection.vendor}; {args.runs} timed runs per page\n")
    print("| Page | Path | Status | Queries | Median ms | p95 ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, path, data in pages:
        fetch(path, data)  # warm caches (templates, URL resolver)
        with CaptureQueriesContext(connection) as queries:
            status = fetch(path, data)
        count = len(queries.captured_queries)
        settings.DEBUG = False  # no SQL logging while timing
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            fetch(path, data)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        method = "POST " if data is not None else ""
        print(
            f"| {name} | `{method}{path}` | {status} | {count} | {statistics.median(times):.1f} | {p95:.1f} |"
        )


def _grow(n: int) -> None:
    """Copy existing debates (with answers, tool calls and consensus) until ``n`` more exist."""
    from django.db import transaction

    from debates.models import DebateConsensus, DebateMessage, DebateSession, ToolCall

    templates = list(DebateSession.objects.order_by("pk")[:20])
    if not templates:
        raise SystemExit("No debates to copy: run `manage.py demo` on this database first.")
    batch = 500
    made = 0
    while made < n:
        size = min(batch, n - made)
        with transaction.atomic():
            sources = [templates[(made + i) % len(templates)] for i in range(size)]
            copies = DebateSession.objects.bulk_create(
                [
                    DebateSession(
                        symbol=s.symbol,
                        as_of=s.as_of,
                        panel_id=s.panel_id,
                        status=s.status,
                        started_at=s.started_at,
                        finished_at=s.finished_at,
                        attempts=s.attempts,
                        error=s.error,
                        total_cost_usd=s.total_cost_usd,
                    )
                    for s in sources
                ]
            )
            by_source = {}
            for source, copy in zip(sources, copies, strict=True):
                by_source.setdefault(source.pk, []).append(copy)
            messages, calls, consensuses = [], [], []
            for m in DebateMessage.objects.filter(session__in=by_source):
                for copy in by_source[m.session_id]:
                    messages.append(_clone(m, session=copy))
            for c in ToolCall.objects.filter(session__in=by_source).defer("result"):
                for copy in by_source[c.session_id]:
                    calls.append(_clone(c, session=copy, result=None))
            for c in DebateConsensus.objects.filter(session__in=by_source):
                for copy in by_source[c.session_id]:
                    consensuses.append(_clone(c, session=copy))
            DebateMessage.objects.bulk_create(messages)
            ToolCall.objects.bulk_create(calls)
            DebateConsensus.objects.bulk_create(consensuses)
        made += size
    print(f"Added {made:,} copied debates.")


def _clone(obj: Any, **changes: Any) -> Any:
    skip = {"session_id", *changes}  # never read a deferred field that is replaced anyway
    values = {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if not f.primary_key and f.attname not in skip
    }
    values.update(changes)
    return type(obj)(**values)


if __name__ == "__main__":
    main()
