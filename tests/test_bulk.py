"""bulk_insert and bulk_update_rows: one statement each, storing text, JSON, decimals and times exactly."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from psycopg.types.json import Jsonb

from agents.models import AgentProfile, Panel, Role
from arena_project import bulk
from arena_project.bulk import bulk_insert, bulk_update_rows
from debates.models import DebateMessage, DebateSession, DebateStatus, ToolCall, ValidationStatus

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


def test_bulk_insert_failure_inserts_nothing(arena: Panel) -> None:
    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    calls = _calls(session, [1, 1])
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(ToolCall, calls)  # the same sequence twice: refused whole
    assert not ToolCall.objects.filter(session=session).exists()
    assert all(call.pk is None and call._state.adding for call in calls)


def test_bulk_insert_splits_long_inserts_and_undoes_all_of_them_on_failure(
    arena: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    monkeypatch.setattr(bulk, "MAX_PARAMS", 2 * len(_calls(session, [1])[0]._meta.concrete_fields))
    with CaptureQueriesContext(connection) as queries:
        saved = bulk_insert(ToolCall, _calls(session, [1, 2, 3, 4, 5]))
    if connection.vendor == "postgresql":
        assert sum("INSERT" in q["sql"] for q in queries) == 3  # two rows a statement
    stored = list(ToolCall.objects.filter(session=session).order_by("pk").values_list("pk", "sequence"))
    assert stored == [(call.pk, call.sequence) for call in saved] and len(stored) == 5
    refused = _calls(session, [6, 7, 8, 1])
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(ToolCall, refused)  # the last statement fails
    assert ToolCall.objects.filter(session=session).count() == 5
    assert all(call.pk is None and call._state.adding for call in refused)


def test_bulk_insert_sets_the_times_pre_save_sets_and_marks_objects_saved(arena: Panel) -> None:
    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    before = timezone.now()
    messages = [
        DebateMessage(
            session=session,
            role=role,
            profile=AgentProfile.objects.filter(role=role).first(),
            validation_status=ValidationStatus.VALID,
            output=out,
        )
        for role, out in ((Role.BULL, None), (Role.BEAR, {"a": 1}))
    ]
    saved = bulk_insert(DebateMessage, messages)
    assert saved == messages and all(m._state.db == "default" and not m._state.adding for m in messages)
    stored = {m.pk: m for m in DebateMessage.objects.filter(session=session)}
    for message in messages:
        assert before <= message.created_at <= message.updated_at <= timezone.now()
        row = stored[message.pk]
        assert (row.created_at, row.updated_at, row.output) == (
            message.created_at,
            message.updated_at,
            message.output,
        )
    assert DebateMessage.objects.filter(session=session, output__isnull=True).count() == 1  # SQL NULL


def test_bulk_insert_refuses_an_unsaved_related_object_before_writing(arena: Panel) -> None:
    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    unsaved = DebateSession(symbol="ACME", as_of=dt.date(2024, 3, 4), panel=arena)
    calls = [*_calls(session, [1]), *_calls(unsaved, [2])]
    with pytest.raises(ValueError, match="unsaved related object 'session'"):
        bulk_insert(ToolCall, calls)
    assert not ToolCall.objects.exists()
    assert calls[0].created_at is None  # nothing was touched


def test_bulk_insert_takes_a_related_object_saved_after_assignment(arena: Panel) -> None:
    later = DebateSession(symbol="ACME", as_of=dt.date(2024, 3, 4), panel=arena)
    calls = _calls(later, [1, 2])
    later.save()  # the calls still hold session_id None: bulk_create takes the pk from the object
    bulk_insert(ToolCall, calls)
    assert list(ToolCall.objects.filter(session=later).values_list("sequence", flat=True)) == [1, 2]


def test_bulk_update_rows_writes_each_row_its_own_values_and_nothing_else(arena: Panel) -> None:
    sessions = [
        DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, d), panel=arena) for d in (1, 4, 5)
    ]
    untouched = sessions.pop()
    finished = dt.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    sessions[0].status, sessions[0].error = DebateStatus.FAILED, 'bad "quote" \\ é'
    sessions[0].total_cost_usd, sessions[0].finished_at = Decimal("0.001234"), finished
    sessions[1].status, sessions[1].total_cost_usd, sessions[1].finished_at = (
        DebateStatus.COMPLETED,
        Decimal(0),
        None,
    )
    fields = ["status", "error", "total_cost_usd", "finished_at"]
    with CaptureQueriesContext(connection) as queries:
        updated = bulk_update_rows(DebateSession, sessions, fields)
    assert updated == 2
    if connection.vendor == "postgresql":  # elsewhere Django's bulk_update does the work
        assert len(queries) == 1
    stored = {s.pk: s for s in DebateSession.objects.filter(pk__in=[s.pk for s in [*sessions, untouched]])}
    for session in sessions:
        assert [getattr(stored[session.pk], f) for f in fields] == [getattr(session, f) for f in fields]
    assert stored[untouched.pk].status == DebateStatus.QUEUED and stored[untouched.pk].error == ""


def test_bulk_update_rows_stores_json_as_bulk_update_would(arena: Panel) -> None:
    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    calls = bulk_insert(ToolCall, _calls(session, [1, 2]))
    calls[0].result, calls[1].result = {"rows": [TRICKY]}, None
    calls[0].arguments, calls[1].arguments = [], {"deep": {"k": [1.5, "x"]}}
    assert bulk_update_rows(ToolCall, calls, ["result", "arguments"]) == 2
    stored = ToolCall.objects.filter(session=session).order_by("sequence")
    assert [(c.result, c.arguments) for c in stored] == [
        ({"rows": [TRICKY]}, []),
        (None, {"deep": {"k": [1.5, "x"]}}),
    ]
    assert bulk_update_rows(ToolCall, [], ["result"]) == 0


def test_bulk_update_rows_splits_long_updates(arena: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    day = dt.date(2024, 3, 4)
    sessions = [DebateSession.objects.create(symbol="ACME", as_of=day, panel=arena) for _ in range(5)]
    for n, session in enumerate(sessions):
        session.error = f"e{n}"
    monkeypatch.setattr(bulk, "MAX_PARAMS", 4)  # two rows of (pk, error) a statement
    with CaptureQueriesContext(connection) as queries:
        assert bulk_update_rows(DebateSession, sessions, ["error"]) == 5
    if connection.vendor == "postgresql":
        assert sum(q["sql"].startswith("UPDATE") for q in queries) == 3
    stored = DebateSession.objects.filter(pk__in=[s.pk for s in sessions]).order_by("pk")
    assert list(stored.values_list("error", flat=True)) == [f"e{n}" for n in range(5)]


def test_bulk_insert_follows_a_key_changed_after_the_object_was_assigned(arena: Panel) -> None:
    first, second = (
        DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, d), panel=arena) for d in (1, 4)
    )
    calls = _calls(first, [1, 2])
    calls[1].session_id = second.pk  # as bulk_create: the key wins, the stale object is forgotten
    bulk_insert(ToolCall, calls)
    stored = ToolCall.objects.order_by("sequence").values_list("session_id", flat=True)
    assert list(stored) == [first.pk, second.pk]
    assert calls[1].session == second and calls[0].session is first


SAMPLES: list[object] = [
    None,
    "",
    "text",
    "12",
    "2024-03-01",
    0,
    7,
    True,
    False,
    1.5,
    Decimal("1.20"),
    Decimal("NaN"),
    dt.date(2024, 3, 1),
    dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC),
    dt.datetime(2024, 3, 1, 12, 30),  # naive
    {"a": [1, None]},
    [1, "x"],
]


def _outcome(convert: Callable[[], object]) -> tuple[object, ...]:
    """What a conversion gives: the value and its type (a JSON wrapper by its content), or the error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = convert()
    except Exception as exc:
        return ("raised", type(exc))
    if isinstance(value, Jsonb):
        return (Jsonb, value.obj, value.dumps is not None)
    return (type(value), repr(value))  # repr: NaN is not equal to itself


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the shortcuts are PostgreSQL's")
def test_every_converter_shortcut_gives_what_get_db_prep_save_gives(db: None) -> None:
    checked = 0
    for model in apps.get_models():
        if model._meta.app_label not in ("agents", "debates", "outcomes", "competition"):
            continue
        for field in model._meta.concrete_fields:
            convert = bulk._converter(field)
            for value in SAMPLES:
                expected = _outcome(lambda: field.get_db_prep_save(value, connection))  # noqa: B023
                assert _outcome(lambda: convert(value, connection)) == expected, (field, value)  # noqa: B023
                checked += 1
    assert checked > 1000
