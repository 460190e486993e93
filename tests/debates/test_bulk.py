"""bulk_insert: one VALUES insert that stores text and JSON exactly and leaves the connection as it was."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from agents.models import Panel
from debates.bulk import bulk_insert
from debates.models import DebateSession, ToolCall

pytestmark = pytest.mark.django_db

TRICKY = {"quote": 'say "hi"', "backslash": "a\\b\\\\c", "unicode": "é ✓ 中", "nested": [1, {"x": None}]}


def _calls(session: DebateSession, sequences: list[int]) -> list[ToolCall]:
    return [
        ToolCall(
            session=session,
            sequence=s,
            tool="get_quote",
            arguments={"n": s},
            result=TRICKY,
            result_summary='"q" \\ {}',
        )
        for s in sequences
    ]


def test_bulk_insert_keeps_json_and_text_exactly_and_sets_primary_keys(arena: Panel) -> None:
    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    saved = bulk_insert(ToolCall, _calls(session, [1, 2, 3]))
    assert all(call.pk for call in saved) and len({call.pk for call in saved}) == 3
    stored = ToolCall.objects.filter(session=session).order_by("sequence")
    assert [(c.pk, c.arguments, c.result, c.result_summary) for c in stored] == [
        (saved[i].pk, {"n": i + 1}, TRICKY, '"q" \\ {}') for i in range(3)
    ]


def test_bulk_insert_failure_inserts_nothing_and_restores_the_connection(arena: Panel) -> None:
    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(ToolCall, _calls(session, [1, 1]))  # the same sequence twice: refused whole
    assert not ToolCall.objects.filter(session=session).exists()
    assert "compiler" not in vars(connection.ops)  # later inserts use the backend's own again
