"""Try one tool from the hub: the real ToolRouter and market source, but no session and no record.

The router keeps its calls in memory (``router.calls``); only the debate service saves them. So a
call made here reads exactly what an analyst would read as of that date and leaves no trace.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from arena_project.errors import ArenaError
from debates.market.sources import (
    AccountSource,
    EmbeddedSource,
    MarketDataSource,
    PaperAccountSource,
    get_source,
)
from debates.models import Bar, Instrument
from debates.tools import ToolError, ToolRouter


@dataclass(frozen=True)
class ToolTry:
    """The outcome of one tried call: the result (as JSON) or the error, and how long it took."""

    tool: str
    arguments: dict[str, Any]
    result: Any
    summary: str
    error: str
    latency_ms: int

    @property
    def ok(self) -> bool:
        return not self.error


def tool_router(market: MarketDataSource | None = None, accounts: AccountSource | None = None) -> ToolRouter:
    """The router debates use, over the configured market source and the paper account."""
    return ToolRouter(market or get_source(), accounts or PaperAccountSource())


def tool_names() -> list[str]:
    """The router's tools; the names do not depend on the source, so any source will do."""
    return ToolRouter(EmbeddedSource(), PaperAccountSource()).tool_names


def tool_try(
    *,
    tool: str,
    arguments: dict[str, Any],
    market: MarketDataSource | None = None,
    accounts: AccountSource | None = None,
) -> ToolTry:
    """Run ``tool`` with ``arguments`` once. A failing call is returned with its error, not raised."""
    try:
        router = tool_router(market, accounts)
    except ArenaError as exc:  # the configured market source is missing
        return ToolTry(tool, arguments, None, "", exc.message, 0)
    with contextlib.suppress(ToolError):  # the error is recorded on the call, read below
        router.call(tool, **arguments)
    call = router.calls[-1]
    return ToolTry(
        tool=tool,
        arguments=call.arguments,
        result=call.result_document,
        summary=call.result_summary,
        error=call.error,
        latency_ms=call.latency_ms,
    )


def latest_bar_date() -> Any:
    """The newest daily bar's date (a sensible default "as of" for the form); one query."""
    return Bar.objects.order_by("-date").values_list("date", flat=True).first()


def known_symbols(limit: int = 500) -> list[str]:
    """Symbols the embedded source knows, for the form's suggestions (one query)."""
    return list(Instrument.objects.order_by("symbol").values_list("symbol", flat=True)[:limit])
