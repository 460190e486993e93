"""The stored form of a bar history (debates/recorded.py): compact, exact, and read back the same
way as rows stored in the old document form by replay, the API and the AdminHub."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client, override_settings

from agents.schemas import BarData
from debates.models import ToolCall
from debates.recorded import BAR_COLUMNS, bars_record, result_document
from debates.replay import debate_replay, recorded_context
from debates.services import debate_run_now
from debates.tools import ToolError, _BarList

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)
PRICES = ["101.2300", "1E+2", "0.00001", "1E-7", "12345678901234.5678", "7", "-0"]


def _bar(day: int, price: str, volume: int = 10) -> BarData:
    value = Decimal(price)
    return BarData(date=dt.date(2024, 1, day), open=value, high=value, low=value, close=value, volume=volume)


def test_bar_columns_are_bardatas_fields_in_order():
    assert tuple(BarData.model_fields) == BAR_COLUMNS


def test_bars_record_holds_exactly_what_model_dump_would():
    bars = [_bar(i + 1, price, volume=i * 1000) for i, price in enumerate(PRICES)]
    dumped = _BarList(bars=bars).model_dump(mode="json")
    record = bars_record(bars)
    assert record["columns"] == list(BAR_COLUMNS)
    assert record["rows"] == [list(bar.values()) for bar in dumped["bars"]]
    assert result_document("get_bars", record) == dumped


def test_a_bars_row_is_computed_once_and_changes_neither_equality_nor_dumps():
    bar, twin = _bar(1, "101.2300"), _bar(1, "101.2300")
    assert bar.json_row is bar.json_row  # cached on the (frozen) bar object
    assert bar.json_row == tuple(bar.model_dump(mode="json").values())
    assert bar == twin and hash(bar) == hash(twin)  # twin's row not computed: still equal
    assert bar.model_dump() == twin.model_dump() and "json_row" not in bar.model_dump()
    first, second = bars_record([bar]), bars_record([bar])
    first["rows"][0].append("mutated")  # a stored document's rows are its own lists
    assert second["rows"] == [list(twin.json_row)] and bar.json_row == twin.json_row
    changed = bar.model_copy(update={"close": Decimal("2")})
    assert changed.json_row[4] == "2" and bar.json_row[4] == "101.2300"


def test_result_document_passes_old_rows_and_other_tools_through():
    old = {"bars": [{"date": "2024-01-02", "open": "1.0000"}]}
    assert result_document("get_bars", old) is old
    quote = {"columns": [1], "rows": [2]}  # another tool's result is never reinterpreted
    assert result_document("get_quote", quote) is quote
    assert result_document("get_bars", None) is None


def test_result_document_refuses_a_row_that_does_not_fit_its_columns():
    with pytest.raises(ValueError):
        result_document("get_bars", {"columns": ["date", "open"], "rows": [["2024-01-02"]]})


@pytest.fixture
def recorded(arena):
    with override_settings(ARENA_MARKET_DATA_SOURCE="embedded"):
        session = debate_run_now(symbol="ACME", as_of=AS_OF, panel=arena)
    bars = session.tool_calls.get(tool="get_bars")
    return session, bars


def _rewrite_the_old_way(call: ToolCall) -> None:
    """Store ``call``'s result in the form rows had before the columnar one."""
    ToolCall.objects.filter(pk=call.pk).update(result=result_document(call.tool, call.result))


def test_a_debate_stores_its_bar_history_columnar(recorded):
    _session, bars = recorded
    assert set(bars.result) == {"columns", "rows"}
    assert len(bars.result["rows"]) == 260 and bars.result["rows"][-1][0] == AS_OF.isoformat()
    assert bars.result_summary == f"260 bars {bars.result['rows'][0][0]}..{AS_OF.isoformat()}"


def test_an_old_format_row_replays_to_the_same_context(recorded):
    session, bars = recorded
    calls = lambda: sorted(session.tool_calls.all(), key=lambda c: c.sequence)  # noqa: E731
    new_context = recorded_context(session, calls())
    _rewrite_the_old_way(bars)
    assert "bars" in ToolCall.objects.get(pk=bars.pk).result
    old_context = recorded_context(session, calls())
    assert old_context == new_context and len(old_context.bars) == 260
    comparison = debate_replay(session_id=session.pk)
    assert comparison.same_decision and comparison.replay.stances == comparison.original.stances


def test_a_corrupt_columnar_row_fails_the_replay_with_its_reason(recorded):
    session, bars = recorded
    rows = bars.result["rows"]
    ToolCall.objects.filter(pk=bars.pk).update(result={"columns": list(BAR_COLUMNS), "rows": [rows[0][:3]]})
    with pytest.raises(ToolError, match="argument 2 is shorter than argument 1"):
        recorded_context(session, sorted(session.tool_calls.all(), key=lambda c: c.sequence))


def test_the_api_shows_old_and_new_rows_as_the_same_document(recorded, api_client):
    session, bars = recorded
    url = f"/api/debate/sessions/{session.pk}"
    new = api_client.get(url).json()["tool_calls"]
    _rewrite_the_old_way(bars)
    old = api_client.get(url).json()["tool_calls"]
    assert new == old
    shown = next(c for c in new if c["tool"] == "get_bars")["result"]
    assert shown["bars"][-1]["date"] == AS_OF.isoformat() and set(shown["bars"][-1]) == set(BAR_COLUMNS)


@pytest.mark.parametrize("old_form", [False, True], ids=["columnar", "old-row"])
def test_the_hub_shows_the_bar_history_as_a_document(recorded, staff_user, old_form):
    session, bars = recorded
    if old_form:
        _rewrite_the_old_way(bars)
    client = Client()
    client.force_login(staff_user)
    page = client.get(f"/hub/debates/{session.pk}/").content.decode()
    assert "&quot;bars&quot;: [" in page and "&quot;columns&quot;" not in page


def test_a_stored_bar_history_is_compressed_with_lz4_on_postgresql(recorded):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not compress")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL server has no lz4 (the migration leaves pglz)")
    _session, bars = recorded
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_compression(result) FROM debates_toolcall WHERE id = %s", [bars.pk])
        assert cursor.fetchone()[0] == "lz4"
