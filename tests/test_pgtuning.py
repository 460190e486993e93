"""psycopg caches the conversion of our long multi-row statements (arena_project/pgtuning.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection

from agents.models import Panel
from arena_project.bulk import bulk_insert
from arena_project.pgtuning import prepared_statements, psycopg_statement_cache_widen
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


def _server_prepared() -> list[tuple[str, int]]:
    """The statements this session holds prepared on the server, with how often each ran."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return list(cursor.fetchall())


@pytest.mark.django_db
def test_statements_are_prepared_once_and_reused_only_inside_the_block() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    with connection.cursor() as cursor:
        for value in range(6):  # outside the block: never prepared, however often it runs
            cursor.execute("SELECT %s::int + 2", [value])
        with prepared_statements(connection):
            for value in range(3):
                cursor.execute("SELECT %s::int + 1", [value])
                assert cursor.fetchone() == (value + 1,)
    held = _server_prepared()
    assert [runs for statement, runs in held if "+ 1" in statement] == [3]  # one statement, 3 runs
    assert not [statement for statement, _ in held if "+ 2" in statement]
    assert connection.connection.prepare_threshold is None  # Django's setting is back


@pytest.mark.django_db
def test_the_setting_is_restored_when_the_statement_fails() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    with pytest.raises(DatabaseError), connection.cursor() as cursor, prepared_statements(connection):
        cursor.execute("SELECT 1 / %s::int", [0])
    assert connection.connection.prepare_threshold is None


def test_prepared_statements_is_a_no_op_elsewhere() -> None:
    class Other:
        vendor = "sqlite"

    with prepared_statements(Other()):
        pass
