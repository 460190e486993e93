"""Leaderboard vs a trivial DRF endpoint by CPU time, for running two versions of the code side by side.

On a shared machine wall times mostly measure the load. This prints, per query of
``leaderboard_scale.py``, this process's CPU time per request (p10 and p50 over interleaved requests)
for the computed leaderboard (answer cache off) and for a trivial endpoint (same authentication and
permission), and the PostgreSQL backend's CPU per request (from /proc). Run the old and the new
code at the same time, each on its own copy of the benchmark database, both pinned to the same
core: they then see the same load.

    git archive <old commit> | tar -x -C /tmp/old
    createdb -T arena_bench_leaderboard copy_a; createdb -T arena_bench_leaderboard copy_b
    .venv/bin/python benchmarks/leaderboard_side_by_side.py --root /tmp/old --database copy_a &
    .venv/bin/python benchmarks/leaderboard_side_by_side.py --database copy_b
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any


def _backend_cpu_ms() -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _cpu_ms(client: Any, url: str) -> float:
    started = time.process_time()
    client.get(url)
    return (time.process_time() - started) * 1000


def _client() -> Any:
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import clear_url_caches, path
    from rest_framework.authtoken.models import Token
    from rest_framework.permissions import IsAdminUser
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from arena_project import urls

    class TrivialApi(APIView):
        permission_classes = [IsAdminUser]

        def get(self, request: Request) -> Response:
            return Response({"ok": True})

    urls.urlpatterns.append(path("bench/trivial", TrivialApi.as_view()))
    clear_url_caches()
    staff, _ = User.objects.get_or_create(username="lb-bench-staff", defaults={"is_staff": True})
    token, _ = Token.objects.get_or_create(user=staff)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", default=str(Path(__file__).resolve().parent.parent), help="Code tree to run."
    )
    parser.add_argument("--database", default="arena_bench_leaderboard", help="A loaded benchmark database.")
    parser.add_argument("--requests", type=int, default=400, help="Requests per endpoint and query.")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    sys.path[:0] = [args.root, f"{args.root}/benchmarks"]
    from _setup import django_setup

    django_setup(f"postgres://postgres@127.0.0.1:5432/{args.database}")
    from django.conf import settings

    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0  # the computed path
    client = _client()
    today = dt.datetime.now(tz=dt.UTC).date()
    queries = [
        "window=30d",
        "window=24h",
        "window=7d",
        "window=all",
        "window=all&symbol=ACME",
        "window=30d&role=bull&sort=-cost_usd",
        "window=7d&provider=anthropic&tier=powerful",
        f"from={today - dt.timedelta(days=90)}&to={today}",
        "kind=traders&window=30d",
    ]
    n = args.requests
    print(f"code: {args.root}")
    for query in queries:
        url = f"/api/admin/arena/leaderboard?{query}"
        for _ in range(20):
            client.get(url)
            client.get("/bench/trivial")
        board, trivial = [], []
        for _ in range(n):
            board.append(_cpu_ms(client, url))
            trivial.append(_cpu_ms(client, "/bench/trivial"))
        db = []
        for target in (url, "/bench/trivial"):
            before = _backend_cpu_ms()
            for _ in range(n // 2):
                client.get(target)
            db.append((_backend_cpu_ms() - before) / (n // 2))
        board.sort()
        trivial.sort()
        b10, t10, b50, t50 = board[n // 10], trivial[n // 10], board[n // 2], trivial[n // 2]
        print(
            f"{query:<45} CPU p10 {b10:.2f} / {t10:.2f} ms ({b10 / t10:.2f}x), p50 {b50:.2f} / {t50:.2f} ms "
            f"({b50 / t50:.2f}x); DB {db[0]:.2f} / {db[1]:.2f} ms; "
            f"CPU p10 + DB {(b10 + db[0]) / (t10 + db[1]):.2f}x",
            flush=True,
        )
    print("load average", ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
