"""bulk_insert's own INSERT stores what Django's bulk_create stores, row for row, on a real backtest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, models, transaction

from arena_project import bulk
from competition.models import CompetitionRun
from debates.models import DebateConsensus, DebateMessage, LlmCall, ToolCall
from outcomes.models import OrderIntent, Outcome, RiskCheck

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the direct INSERT is PostgreSQL's"),
]

# Every model the debate and trade-opening paths write through bulk_insert.
INSERTED = {ToolCall, DebateMessage, LlmCall, DebateConsensus, OrderIntent, RiskCheck, Outcome}
APPS = ("debates", "outcomes", "competition")
# Columns that differ between two runs of the same backtest: the clock, and a random order id suffix.
UNREPEATABLE = {"latency_ms", "client_order_id"}


def _sequences() -> dict[str, tuple[int, bool]]:
    """Each table's id sequence position (sequences ignore rollbacks; they are put back by hand)."""
    positions = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if not isinstance(model._meta.pk, models.AutoField):
                continue
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, model._meta.pk.column]
            )
            (name,) = cursor.fetchone()
            if name:
                cursor.execute(f"SELECT last_value, is_called FROM {name}")  # noqa: S608 - a catalog name
                positions[name] = cursor.fetchone()
    return positions


def _restore(positions: dict[str, tuple[int, bool]]) -> None:
    with connection.cursor() as cursor:
        for name, (value, called) in positions.items():
            cursor.execute("SELECT setval(%s, %s, %s)", [name, value, called])


def _rows() -> dict[str, list[dict[str, Any]]]:
    """Every row of the apps' tables, ids and foreign keys included, without the clock's columns."""
    dump = {}
    for model in apps.get_models():
        if model._meta.app_label in APPS:
            dump[model._meta.label] = list(model.objects.order_by("pk").values(*_columns(model)))
    return dump


def _columns(model: type[models.Model]) -> list[str]:
    fields = model._meta.concrete_fields
    return [
        f.attname for f in fields if not isinstance(f, models.DateTimeField) and f.name not in UNREPEATABLE
    ]


def _backtest_rows(run_backtest: Callable[..., CompetitionRun]) -> dict[str, list[dict[str, Any]]]:
    """Run the backtest, read its rows, and undo it all, sequences included."""
    positions = _sequences()
    with transaction.atomic():
        run_backtest(traders=["steady", "bold", "weekly"], symbols=["ACME", "BOLT"])
        rows = _rows()
        transaction.set_rollback(True)
    _restore(positions)
    return rows


def test_bulk_insert_writes_the_rows_bulk_create_writes(
    traders: object, run_backtest: Callable[..., CompetitionRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    direct: set[type[models.Model]] = set()
    insert_sql = bulk._insert_sql

    def spy(model: type[models.Model], rows: int) -> str:
        direct.add(model)
        return insert_sql(model, rows)

    monkeypatch.setattr(bulk, "_insert_sql", spy)
    ours = _backtest_rows(run_backtest)
    # several rows at once for these; the trade hook opens one decision per call here (see below)
    assert direct == INSERTED - {OrderIntent, Outcome}

    monkeypatch.setattr(bulk, "_insert_plan", lambda model: None)  # every call falls back to bulk_create
    django = _backtest_rows(run_backtest)

    assert sum(len(rows) for rows in ours.values()) > 1000
    for model in INSERTED:
        assert ours[model._meta.label], model
    assert ours == django


@pytest.mark.parametrize("model", sorted(INSERTED, key=str))
def test_bulk_insert_stores_loaded_rows_again_exactly(
    model: type[models.Model], traders: object, run_backtest: Callable[..., CompetitionRun]
) -> None:
    """Every row of a backtest's table, deleted and inserted again in one statement: the same values
    (foreign keys are checked at commit on PostgreSQL, which never comes: the rows referring to them
    can stay)."""
    run_backtest(traders=["steady", "bold"], symbols=["ACME", "BOLT"])
    columns = [c for c in _columns(model) if c != "id"]
    stored = list(model.objects.order_by("pk"))
    before = list(model.objects.order_by("pk").values(*columns))
    assert len(stored) > 1
    with transaction.atomic():  # undone: the rows referring to them are checked at commit
        model.objects.all()._raw_delete(connection.alias)  # type: ignore[attr-defined]
        for obj in stored:
            obj.pk, obj._state.adding, obj._state.db = None, True, None
        assert bulk.bulk_insert(model, stored) is not None
        new_pks = [obj.pk for obj in stored]
        assert new_pks == sorted(new_pks) and all(not obj._state.adding for obj in stored)
        assert list(model.objects.order_by("pk").values_list("pk", flat=True)) == new_pks
        assert list(model.objects.order_by("pk").values(*columns)) == before
        transaction.set_rollback(True)
