"""How a tool call's result is stored (``ToolCall.result``), and the one form every reader sees.

A ``get_bars`` result is the debate's whole bar history (260 bars by default), kept for replay. It
used to be stored as the router's document, ``{"bars": [{"date": ..., "open": ..., ...}, ...]}``:
about 31 KB of JSON per debate, each bar repeating its six field names. It is now stored in a
columnar form that names the fields once::

    {"columns": ["date", "open", "high", "low", "close", "volume"],
     "rows": [["2024-01-02", "101.2300", "102.0000", "100.5000", "101.9000", 1234567], ...]}

Same values, same text: prices stay strings as pydantic writes a Decimal (``str(Decimal)``, so
``"101.2300"`` keeps its scale) and dates ISO. It is about 19 KB for 260 bars, and it is built
from the bars directly instead of through ``model_dump`` (half the CPU, measured). Every write of
a debate pays for it, and the database parses and compresses every byte (jsonb, TOAST), so this
is the largest single statement of a debate's record.

Readers never see the stored form: :func:`result_document` turns it back into the document, and it
passes anything else through unchanged - the other tools' results, and ``get_bars`` rows stored in
the old form before this module existed (users' databases hold them). Replay
(``ToolRouter(recorded=...)``), the API (``ToolCall.result`` in a session's detail) and the
AdminHub all read through it, so both forms replay to the same context and display the same way.

Why not also share one stored history between the debates that saw the same one (a backtest's
traders debate the same symbol on the same day): see docs/coordinator.md, "Recorded context".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.schemas import BarData

GET_BARS = "get_bars"
#: The columns of a stored bar history: BarData's fields, in order (a test keeps them in step).
BAR_COLUMNS = ("date", "open", "high", "low", "close", "volume")


def bars_record(bars: Sequence[BarData]) -> dict[str, Any]:
    """``bars`` in the stored (columnar) form: the values ``model_dump(mode="json")`` would give."""
    return {
        "columns": list(BAR_COLUMNS),
        "rows": [list(b.json_row) for b in bars],  # each bar's row is computed once (BarData.json_row)
    }


def result_document(tool: str, result: Any) -> Any:
    """A stored result as the router's document: a columnar ``get_bars`` history becomes
    ``{"bars": [{column: value, ...}, ...]}``; anything else (old rows included) is returned as is."""
    if tool == GET_BARS and _is_columnar(result):
        columns = result["columns"]
        return {"bars": [dict(zip(columns, row, strict=True)) for row in result["rows"]]}
    return result


def _is_columnar(result: Any) -> bool:
    return (
        isinstance(result, dict)
        and isinstance(result.get("columns"), list)
        and isinstance(result.get("rows"), list)
        and "bars" not in result
    )
