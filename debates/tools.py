"""The tool router: the only way agents read market context, and a record of every read.

Each tool has a pydantic argument model, so a bad argument is refused before any source is asked.
Every call, failed or not, becomes a :class:`ToolCall` row with its arguments, its whole result
(for replay; a bar history in the compact form of debates/recorded.py) and its latency. A router
built with ``recorded=`` answers from earlier rows, in either stored form, instead of the sources:
that is how a debate is replayed on exactly the context it saw.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.schemas import Account, BarData, MarketContext, Position, Quote
from debates.market.sources import AccountSource, MarketDataSource
from debates.models import ToolCall
from debates.recorded import bars_record, result_document


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SymbolArgs(_Args):
    symbol: str = Field(pattern=r"^[A-Z][A-Z0-9.\-]{0,15}$")
    as_of: dt.date


class BarsArgs(SymbolArgs):
    lookback: int = Field(ge=1, le=5000)


class AccountArgs(_Args):
    as_of: dt.date


class ToolError(Exception):
    """A tool call that failed; it is recorded, then raised to the caller."""


class _BarList(BaseModel):
    bars: list[BarData]


class _PositionList(BaseModel):
    positions: list[Position]


def _bars_summary(result: _BarList) -> str:
    if not result.bars:
        return "0 bars"
    return f"{len(result.bars)} bars {result.bars[0].date}..{result.bars[-1].date}"


class ToolRouter:
    """Named tools over a market-data source and an account source, recording each call."""

    def __init__(
        self,
        market: MarketDataSource,
        accounts: AccountSource,
        *,
        recorded: Iterable[ToolCall] = (),
    ) -> None:
        self.market = market
        self.accounts = accounts
        self.calls: list[ToolCall] = []
        self._recorded = {(c.tool, _key(c.arguments)): c for c in recorded}
        self._tools: dict[str, tuple[type[_Args], Callable[[Any], BaseModel], type[BaseModel]]] = {
            "get_quote": (SymbolArgs, lambda a: market.quote(a.symbol, as_of=a.as_of), Quote),
            "get_bars": (
                BarsArgs,
                lambda a: _BarList(bars=market.bars(a.symbol, as_of=a.as_of, lookback=a.lookback)),
                _BarList,
            ),
            "get_account": (AccountArgs, lambda a: accounts.account(as_of=a.as_of), Account),
            "get_positions": (
                AccountArgs,
                lambda a: _PositionList(positions=accounts.positions(as_of=a.as_of)),
                _PositionList,
            ),
        }

    @property
    def tool_names(self) -> list[str]:
        return list(self._tools)

    def call(self, tool: str, **arguments: Any) -> BaseModel:
        """Validate the arguments, run (or replay) the tool, record the call; raise ToolError on failure."""
        if tool not in self._tools:
            raise ToolError(f"Unknown tool {tool!r}; known tools: {', '.join(self._tools)}.")
        args_model, run, result_model = self._tools[tool]
        started = time.perf_counter()
        record = ToolCall(sequence=len(self.calls) + 1, tool=tool, arguments=_jsonable(arguments))
        self.calls.append(record)
        try:
            args = args_model.model_validate(arguments)
            result = self._replay(tool, record.arguments, result_model) if self._recorded else run(args)
        except ValidationError as exc:
            record.error = f"invalid arguments: {exc.errors(include_url=False)}"
            raise ToolError(record.error) from exc
        except Exception as exc:
            record.error = str(exc)
            raise ToolError(str(exc)) from exc
        finally:
            record.latency_ms = int((time.perf_counter() - started) * 1000)
        # A bar history is built straight into its compact stored form, skipping pydantic's dump.
        if isinstance(result, _BarList):
            record.result = bars_record(result.bars)
        else:
            record.result = result.model_dump(mode="json")
        record.result_summary = _summary(result)[:300]
        return result

    def _replay(self, tool: str, arguments: dict[str, Any], model: type[BaseModel]) -> BaseModel:
        original = self._recorded.get((tool, _key(arguments)))
        if original is None or original.result is None:
            raise ToolError(f"Replay has no recorded {tool} call with arguments {arguments}.")
        return model.model_validate(result_document(tool, original.result))

    def gather_context(self, symbol: str, as_of: dt.date, *, lookback: int) -> MarketContext:
        """The context every analyst reads: a quote, the bar history, the account and the positions."""
        bars = self.call("get_bars", symbol=symbol, as_of=as_of, lookback=lookback)
        quote = self.call("get_quote", symbol=symbol, as_of=as_of)
        account = self.call("get_account", as_of=as_of)
        positions = self.call("get_positions", as_of=as_of)
        assert isinstance(quote, Quote) and isinstance(bars, _BarList)  # noqa: S101 - narrowing for mypy
        assert isinstance(account, Account) and isinstance(positions, _PositionList)  # noqa: S101
        return MarketContext(
            symbol=symbol,
            as_of=as_of,
            quote=quote,
            bars=bars.bars,
            account=account,
            positions=positions.positions,
        )


def _summary(result: BaseModel) -> str:
    if isinstance(result, _BarList):
        return _bars_summary(result)
    if isinstance(result, Quote):
        return f"{result.symbol} {result.price} as of {result.as_of}"
    if isinstance(result, Account):
        return f"cash {result.cash} equity {result.equity} ({result.source})"
    if isinstance(result, _PositionList):
        return f"{len(result.positions)} positions"
    return type(result).__name__


def _jsonable(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in arguments.items()}


def _key(arguments: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(_jsonable(arguments).items()))
