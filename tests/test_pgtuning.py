"""psycopg caches the conversion of our long multi-row statements (arena_project/pgtuning.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from agents.models import Panel
from arena_project.bulk import bulk_insert
from arena_project.pgtuning import psycopg_statement_cache_widen
from debates.models import DebateSession, ToolCall


def test_psycopg_still_has_the_limits_we_raise() -> None:
    """A psycopg release that renames its cache limits fails here rather than slowing us quietly."""
    from psycopg import _queries

    assert psycopg_statement_cache_widen() is True
    assert _queries.MAX_CACHED_STATEMENT_PARAMS >= 16 * 1024
    assert _queries.MAX_CACHED_STATEMENT_LENGTH >= 256 * 1024


@pytest.mark.django_db
def test_a_repeated_long_insert_is_converted_once(arena: Panel) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("psycopg converts statements only on PostgreSQL")
    from psycopg import _queries

    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    rows = 60  # 60 rows x 10 columns: far over psycopg's default limit of 50 parameters

    def insert(first: int) -> None:
        bulk_insert(
            ToolCall,
            [
                ToolCall(session=session, sequence=first + i, tool="get_quote", arguments={})
                for i in range(rows)
            ],
        )

    insert(0)
    hits = _queries._query2pg.cache_info().hits
    insert(rows)
    assert _queries._query2pg.cache_info().hits == hits + 1
