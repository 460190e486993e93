"""psycopg tuning Django has no setting for (applied by settings when DATABASE_URL is PostgreSQL).

psycopg turns each statement's ``%s`` placeholders into ``$n`` ones by scanning the SQL with a regex,
and caches the result (an LRU of 128 statements) only for statements under 4 KB and 50 parameters.
Our multi-row inserts and updates (``arena_project.bulk``) are far over both, and are the same SQL
again and again (a backtest's day writes the same number of rows every day), so every one of them
was scanned anew: a 1,800-parameter insert costs about 3.5 ms of regex. Raising the limits lets the
cache keep them too (128 entries of at most 256 KB: a few MB at worst). Measured on a 3-month
backtest: 21 % less CPU in the process. The limits are module constants of ``psycopg._queries``;
``tests/test_pgtuning.py`` fails if a psycopg release renames them, instead of this going quietly
stale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

MAX_CACHED_STATEMENT_LENGTH = 256 * 1024
MAX_CACHED_STATEMENT_PARAMS = 16 * 1024


def psycopg_statement_cache_widen() -> bool:
    """Let psycopg cache the conversion of long statements; False when psycopg has no such limits."""
    try:
        from psycopg import _queries
    except ImportError:  # psycopg not installed (an SQLite-only environment)
        return False
    names = ("MAX_CACHED_STATEMENT_LENGTH", "MAX_CACHED_STATEMENT_PARAMS")
    if not all(isinstance(getattr(_queries, name, None), int) for name in names):
        return False
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(
        _queries.MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_LENGTH
    )
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(
        _queries.MAX_CACHED_STATEMENT_PARAMS, MAX_CACHED_STATEMENT_PARAMS
    )
    return True


@contextlib.contextmanager
def prepared_statements(connection: Any) -> Iterator[None]:
    """Statements run inside are prepared on the server (by psycopg, per connection) and reused.

    Django turns psycopg's prepared statements off for every statement (``prepare_threshold`` None,
    so connection poolers keep working), and PostgreSQL then parses and plans each statement anew.
    For a statement that is cheap to run but costly to plan - the leaderboard's grouped read of the
    rollup: about 0.3 ms of planning for 0.2 ms of running - that planning is most of its time.
    Inside this block psycopg prepares each statement the first time it runs (threshold 0) and runs
    an already prepared one by name; statements outside it are neither prepared nor counted. The
    statements still go through Django's cursor (its wrappers, query logging, ``assertNumQueries``).
    A no-op on another database or driver. Prepared statements live in the server session, so this
    is for a direct connection, not a transaction-pooling pooler (none is used here).
    """
    raw = connection.connection if connection.vendor == "postgresql" else None
    if raw is None or not hasattr(raw, "prepare_threshold"):
        yield
        return
    saved = raw.prepare_threshold
    raw.prepare_threshold = 0
    try:
        yield
    finally:
        raw.prepare_threshold = saved
