"""A local fake of Alpaca's REST API that alpaca-py's *real* clients can talk to unmodified.

Why: the project's AlpacaBroker and Alpaca market-data source should be tested through the same HTTP,
auth, retry and pydantic-validation path they use in production, not through mocks of alpaca-py. Point
``TradingClient(key, secret, paper=True, url_override=server.base_url)`` and
``StockHistoricalDataClient(key, secret, url_override=server.base_url)`` at one ``FakeAlpacaServer``.

The test drives the world: it fills / rejects / expires orders, loads bars and quotes, and injects
faults (HTTP errors, hangs, latency). Every request is recorded for assertions.

Deliberate simplifications (documented so nobody relies on them by accident):
* order types market and limit only, order_class simple only; no replace (PATCH), no streaming;
* a cash account (multiplier 1): buying power = cash - reserves of open buys with a knowable price;
* bars ``start``/``end`` default to unbounded (real Alpaca defaults ``start`` to today's midnight);
* ``Retry-After`` is sent if you ask for it, but alpaca-py ignores it (it sleeps ``client._retry_wait``).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from .alpaca_common import (
    AlpacaHTTPError,
    Number,
    asset_id,
    bad_request,
    rfc3339,
    to_decimal,
    utc_now,
)
from .alpaca_market import BarQuery, MarketData
from .alpaca_trading import TradingLedger

__all__ = ["FakeAlpacaServer", "RecordedRequest"]

OrderRef = str | UUID  # an order id (alpaca-py hands out UUIDs) or a client_order_id
UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}


class RecordedRequest(NamedTuple):
    """One request as received: unpacks as ``(method, path, query, json, headers)``."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]


@dataclass
class _Fault:
    """A pending injected fault; ``remaining`` counts down once per matching request."""

    kind: str
    path_prefix: str
    method: str | None
    remaining: int
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, request: RecordedRequest) -> bool:
        return request.path.startswith(self.path_prefix) and self.method in (None, request.method)


@dataclass
class _Reply:
    """What the handler writes back; ``body=None`` means no body (e.g. 204)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _error_reply(error: AlpacaHTTPError) -> _Reply:
    return _Reply(error.status, error.body())


def _default_fault_body(status: int) -> dict[str, object]:
    """Alpaca-style body for an injected status: code = status * 100000 + 10000 (e.g. 42910000)."""
    try:
        phrase = HTTPStatus(status).phrase.lower()
    except ValueError:
        phrase = "error"
    message = "rate limit exceeded" if status == 429 else phrase
    return {"code": status * 100_000 + 10_000, "message": message}


def _csv(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part.strip()]


class _HTTPServer(ThreadingHTTPServer):
    """Threaded server whose handler threads never block interpreter exit or ``stop()``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeAlpacaServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP adapter: everything interesting happens in ``FakeAlpacaServer._handle``."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind requests.Session
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def _dispatch(self) -> None:
        self.server.fake._handle(self)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; ``FakeAlpacaServer.requests`` is the log."""


_Route = tuple[str, re.Pattern[str], str]


def _route(method: str, pattern: str, handler: str) -> _Route:
    return method, re.compile(pattern), handler


ROUTES: list[_Route] = [
    _route("POST", r"/v2/orders", "_post_order"),
    _route("GET", r"/v2/orders", "_get_orders"),
    _route("DELETE", r"/v2/orders", "_delete_orders"),
    _route("GET", r"/v2/orders:by_client_order_id", "_get_order_by_client_id"),
    _route("GET", r"/v2/orders/(?P<order_id>[^/]+)", "_get_order"),
    _route("DELETE", r"/v2/orders/(?P<order_id>[^/]+)", "_delete_order"),
    _route("GET", r"/v2/account", "_get_account"),
    _route("GET", r"/v2/account/activities", "_get_activities"),
    _route("GET", r"/v2/account/activities/(?P<activity_type>[^/]+)", "_get_activities"),
    _route("GET", r"/v2/positions", "_get_positions"),
    _route("GET", r"/v2/positions/(?P<symbol>[^/]+)", "_get_position"),
    _route("GET", r"/v2/clock", "_get_clock"),
    _route("GET", r"/v2/assets/(?P<symbol>[^/]+)", "_get_asset"),
    _route("GET", r"/v2/stocks/bars", "_get_bars"),
    _route("GET", r"/v2/stocks/quotes/latest", "_get_latest_quotes"),
    _route("GET", r"/v2/stocks/trades/latest", "_get_latest_trades"),
    _route("GET", r"/v2/stocks/snapshots", "_get_snapshots"),
    _route("GET", r"/v2/stocks/(?P<symbol>[^/]+)/bars", "_get_symbol_bars"),
]


class FakeAlpacaServer:
    """Fake Alpaca trading + market data REST API on ``127.0.0.1`` with an ephemeral port.

    Public knobs (plain attributes, safe to change while running):
    ``auto_fill_price`` (fill market orders on submit at this price), ``delay_s`` (latency before every
    answer), ``max_page_size`` (server-side cap on bars per page; lower it to force pagination),
    ``market_open`` (for ``/v2/clock``), ``clock`` (callable returning an aware ``datetime``).
    """

    def __init__(
        self,
        *,
        cash: Number = Decimal(100_000),
        api_key: str | None = None,
        secret_key: str | None = None,
        max_page_size: int = 10_000,
    ) -> None:
        """``api_key``/``secret_key`` given -> they must match; otherwise any non-empty pair is accepted."""
        self.api_key = api_key
        self.secret_key = secret_key
        self.auto_fill_price: Decimal | float | str | None = None
        self.delay_s: float = 0.0
        self.max_page_size = max_page_size
        self.market_open = True
        self.clock: Callable[[], datetime] = utc_now
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._ledger = TradingLedger(to_decimal(cash, "cash"), lambda: self.clock())
        self._market = MarketData()
        self._faults: list[_Fault] = []
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind an ephemeral port and serve in a daemon thread; returns self for chaining."""
        if self._httpd is not None:
            raise RuntimeError("FakeAlpacaServer already started")
        self._httpd = _HTTPServer(self)
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-alpaca", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; releases hung requests and drops keep-alive sockets so it never blocks."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port; still readable after ``stop()`` so error messages can name it."""
        if self._port is None:
            raise RuntimeError("FakeAlpacaServer was never started")
        return self._port

    @property
    def base_url(self) -> str:
        """Pass as ``url_override``; alpaca-py appends ``/v2/...`` itself."""
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ order lifecycle (test side)

    def fill(self, order: OrderRef, qty: Number | None = None, price: Number | None = None) -> dict[str, Any]:
        """(Partially) fill an open order by id or client_order_id; ``qty=None`` fills the rest.

        ``price`` defaults to the limit price, then to the symbol's mark. Updates filled_qty, the
        volume-weighted filled_avg_price, status, cash, the position and the FILL activity feed.
        """
        with self._lock:
            return self._ledger.fill(str(order), qty, price).to_json()

    def reject(self, order: OrderRef, reason: str = "rejected by fake broker") -> dict[str, Any]:
        """Move an unfilled open order to ``rejected`` (Alpaca's REST order carries no reason field)."""
        with self._lock:
            return self._ledger.close(str(order), "rejected", reason).to_json()

    def expire(self, order: OrderRef) -> dict[str, Any]:
        """Move an open order to ``expired`` (e.g. a DAY order at the close); fills are kept."""
        with self._lock:
            return self._ledger.close(str(order), "expired").to_json()

    def cancel(self, order: OrderRef) -> dict[str, Any]:
        """Cancel from the broker side (as if done in Alpaca's dashboard), bypassing the HTTP API."""
        with self._lock:
            return self._ledger.close(str(order), "canceled").to_json()

    def order(self, order: OrderRef) -> dict[str, Any]:
        """The order payload exactly as the API would serve it, by id or client_order_id."""
        with self._lock:
            return self._ledger.find(str(order)).to_json()

    def orders(self) -> list[dict[str, Any]]:
        """All orders in submission order, regardless of status."""
        with self._lock:
            return [o.to_json() for o in sorted(self._ledger.orders.values(), key=lambda o: o.seq)]

    def fills(self) -> list[dict[str, Any]]:
        """All FILL activities, oldest first."""
        with self._lock:
            return [dict(activity) for _, activity in self._ledger.fills]

    def account(self) -> dict[str, Any]:
        with self._lock:
            return self._ledger.account_json()

    def positions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._ledger.position_json(p) for p in self._ledger.positions.values()]

    def set_cash(self, amount: Number) -> None:
        with self._lock:
            self._ledger.cash = to_decimal(amount, "cash")

    def set_position(self, symbol: str, qty: Number, avg_entry_price: Number) -> None:
        """Seed a position held before the test started (cash untouched); qty 0 removes it."""
        with self._lock:
            self._ledger.set_position(symbol, qty, avg_entry_price)

    def set_mark(self, symbol: str, price: Number, lastday: Number | None = None) -> None:
        """Set the price positions are valued at (and the previous close used for intraday P&L)."""
        with self._lock:
            self._ledger.marks[symbol.upper()] = to_decimal(price, "price")
            if lastday is not None:
                self._ledger.lastday[symbol.upper()] = to_decimal(lastday, "lastday")

    @property
    def allow_short(self) -> bool:
        """When False (default) selling more than is held is Alpaca's 403 'insufficient qty'."""
        return self._ledger.allow_short

    @allow_short.setter
    def allow_short(self, value: bool) -> None:
        self._ledger.allow_short = value

    @property
    def initial_status(self) -> str:
        """Status of a freshly submitted order: 'new' (default), 'accepted' or 'pending_new'."""
        return self._ledger.initial_status

    @initial_status.setter
    def initial_status(self, value: str) -> None:
        self._ledger.initial_status = value

    # ------------------------------------------------------------------ market data (test side)

    def add_bars(self, symbol: str, timeframe: object, bars: Iterable[Mapping[str, Any]]) -> None:
        """Load bars for ``symbol`` at ``timeframe`` ("1Day", "1Hour", "1Min" or a ``TimeFrame``).

        Each bar uses Alpaca keys ``t o h l c v`` (optional ``n vw``) or the long names; ``t`` may be a
        datetime or RFC 3339 string. Re-adding a timestamp replaces that bar.
        """
        with self._lock:
            self._market.add_bars(symbol, timeframe, bars)

    def set_quote(self, symbol: str, bid: Number, ask: Number, **kwargs: Any) -> None:
        """Pin the latest quote (kwargs: bid_size, ask_size, at); otherwise it derives from the last bar."""
        with self._lock:
            self._market.set_quote(symbol, bid, ask, **kwargs)

    def set_trade(self, symbol: str, price: Number, **kwargs: Any) -> None:
        """Pin the latest trade (kwargs: size, at); otherwise it derives from the last bar."""
        with self._lock:
            self._market.set_trade(symbol, price, **kwargs)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        count: int = 1,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests whose path starts with ``path_prefix`` with ``status``.

        ``body`` defaults to Alpaca's ``{"code", "message"}`` shape; a dict/list is sent as JSON, a
        str/bytes verbatim. ``headers`` (e.g. ``{"Retry-After": "1"}``) are added to the response.
        Faults are matched in registration order and apply before auth, like a gateway would.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append(
                _Fault(
                    "fail", path_prefix, method and method.upper(), count, status, body, dict(headers or {})
                )
            )

    def hang_next(self, path_prefix: str, count: int = 1, *, method: str | None = None) -> None:
        """Never answer the next ``count`` matching requests; they are released (unanswered) by ``stop()``."""
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append(_Fault("hang", path_prefix, method and method.upper(), count))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------ request log

    def count(self, method: str, path_prefix: str = "/") -> int:
        """How many ``method`` requests hit paths starting with ``path_prefix`` (retries included)."""
        with self._lock:
            return sum(
                1 for r in self.requests if r.method == method.upper() and r.path.startswith(path_prefix)
            )

    # ------------------------------------------------------------------ HTTP plumbing

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, handler: _Handler) -> None:
        """Record, apply latency and faults, check auth, route, respond."""
        request, body_ok = self._read_request(handler)
        with self._lock:
            self.requests.append(request)
            fault = self._take_fault(request)
        if self.delay_s and self._stopping.wait(self.delay_s):
            handler.close_connection = True
            return
        if fault is not None and fault.kind == "hang":
            self._stopping.wait()
            handler.close_connection = True
            return
        if fault is not None:
            reply = _Reply(
                fault.status, _default_fault_body(fault.status) if fault.body is None else fault.body
            )
            reply.headers.update(fault.headers)
        elif not self._authorized(request.headers):
            reply = _Reply(401, UNAUTHORIZED)
        elif not body_ok:
            reply = _Reply(400, {"code": 40010000, "message": "request body format is invalid"})
        else:
            reply = self._route(request)
        self._send(handler, reply)

    @staticmethod
    def _read_request(handler: _Handler) -> tuple[RecordedRequest, bool]:
        """Parse path, query (last value wins), JSON body and lower-cased headers."""
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body_ok, body = True, None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body_ok, body = False, raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in handler.headers.items()}
        return RecordedRequest(handler.command, unquote(parts.path), query, body, headers), body_ok

    def _take_fault(self, request: RecordedRequest) -> _Fault | None:
        """Consume one use of the first matching fault (caller holds the lock)."""
        for fault in self._faults:
            if fault.matches(request):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        key, secret = headers.get("apca-api-key-id"), headers.get("apca-api-secret-key")
        if not key or not secret:
            return False
        return (self.api_key is None or key == self.api_key) and (
            self.secret_key is None or secret == self.secret_key
        )

    def _route(self, request: RecordedRequest) -> _Reply:
        """Find the endpoint and run it under the state lock, mapping errors to Alpaca-shaped replies."""
        path_known = False
        for method, pattern, name in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_known = True
            if method == request.method:
                return self._invoke(name, request, match.groupdict())
        if path_known:
            return _Reply(405, {"code": 40510000, "message": "method not allowed"})
        return _Reply(404, {"code": 40410000, "message": "endpoint not found"})

    def _invoke(self, name: str, request: RecordedRequest, params: dict[str, str]) -> _Reply:
        try:
            with self._lock:
                return getattr(self, name)(request, **params)
        except AlpacaHTTPError as error:
            return _error_reply(error)
        except Exception as error:  # a bug in the fake must be loud, not a hung client
            traceback.print_exc(file=sys.stderr)
            return _Reply(500, {"code": 50010000, "message": f"fake alpaca server error: {error!r}"})

    def _send(self, handler: _Handler, reply: _Reply) -> None:
        if isinstance(reply.body, bytes | str):
            payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
            content_type = "text/plain; charset=utf-8"
        else:
            payload = b"" if reply.body is None else json.dumps(reply.body).encode()
            content_type = "application/json; charset=utf-8"
        headers = {"Content-Type": content_type, **reply.headers}
        try:
            handler.send_response(reply.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            if reply.status != 204:
                handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if reply.status != 204:
                handler.wfile.write(payload)
        except OSError:
            handler.close_connection = True  # client went away (timeout, stop); nothing to do

    # ------------------------------------------------------------------ trading endpoints

    def _post_order(self, request: RecordedRequest) -> _Reply:
        if not isinstance(request.json, dict):
            raise bad_request("request body format is invalid")
        auto = self.auto_fill_price
        order = self._ledger.submit(
            request.json, None if auto is None else to_decimal(auto, "auto_fill_price")
        )
        return _Reply(200, order.to_json())

    def _get_orders(self, request: RecordedRequest) -> _Reply:
        return _Reply(200, self._ledger.list_orders(request.query))

    def _delete_orders(self, request: RecordedRequest) -> _Reply:
        return _Reply(207, self._ledger.cancel_all())

    def _get_order_by_client_id(self, request: RecordedRequest) -> _Reply:
        client_order_id = request.query.get("client_order_id")
        if not client_order_id:
            raise bad_request("client_order_id is required")
        return _Reply(200, self._ledger.order_by_client_id(client_order_id).to_json())

    def _get_order(self, request: RecordedRequest, order_id: str) -> _Reply:
        return _Reply(200, self._ledger.order_by_id(order_id).to_json())

    def _delete_order(self, request: RecordedRequest, order_id: str) -> _Reply:
        self._ledger.cancel(order_id)
        return _Reply(204)

    def _get_account(self, request: RecordedRequest) -> _Reply:
        return _Reply(200, self._ledger.account_json())

    def _get_activities(self, request: RecordedRequest, activity_type: str | None = None) -> _Reply:
        """Only FILL activities exist in the fake; other types are an empty list, not an error."""
        wanted = [activity_type] if activity_type else _csv(request.query.get("activity_types")) or ["FILL"]
        if "FILL" not in {w.strip().upper() for w in wanted}:
            return _Reply(200, [])
        return _Reply(200, self._ledger.fill_activities(request.query))

    def _get_positions(self, request: RecordedRequest) -> _Reply:
        return _Reply(200, [self._ledger.position_json(p) for p in self._ledger.positions.values()])

    def _get_position(self, request: RecordedRequest, symbol: str) -> _Reply:
        return _Reply(200, self._ledger.open_position(symbol))

    def _get_clock(self, request: RecordedRequest) -> _Reply:
        """Approximate clock: only ``is_open`` is meaningful, driven by ``market_open``."""
        now = self.clock()
        next_open = now + (timedelta(days=1) if self.market_open else timedelta(hours=1))
        next_close = now + (timedelta(hours=1) if self.market_open else timedelta(days=1))
        body = {
            "timestamp": rfc3339(now),
            "is_open": self.market_open,
            "next_open": rfc3339(next_open),
            "next_close": rfc3339(next_close),
        }
        return _Reply(200, body)

    def _get_asset(self, request: RecordedRequest, symbol: str) -> _Reply:
        """Every symbol is an active, tradable, fractionable US equity in the fake."""
        symbol = symbol.upper()
        body = {
            "id": asset_id(symbol),
            "class": "us_equity",
            "exchange": "NASDAQ",
            "symbol": symbol,
            "name": symbol,
            "status": "active",
            "tradable": True,
            "marginable": True,
            "shortable": True,
            "easy_to_borrow": True,
            "fractionable": True,
            "attributes": [],
        }
        return _Reply(200, body)

    # ------------------------------------------------------------------ market data endpoints

    @staticmethod
    def _symbols(request: RecordedRequest) -> list[str]:
        symbols = _csv(request.query.get("symbols"))
        if not symbols:
            raise bad_request("symbols is required")
        return symbols

    def _get_bars(self, request: RecordedRequest) -> _Reply:
        query = BarQuery.parse(request.query, self._symbols(request), self.max_page_size)
        bars, token = self._market.bars_page(query)
        return _Reply(200, {"bars": bars, "next_page_token": token})

    def _get_symbol_bars(self, request: RecordedRequest, symbol: str) -> _Reply:
        query = BarQuery.parse(request.query, [symbol], self.max_page_size)
        bars, token = self._market.bars_page(query)
        return _Reply(
            200, {"bars": bars.get(symbol.upper(), []), "symbol": symbol.upper(), "next_page_token": token}
        )

    def _get_latest_quotes(self, request: RecordedRequest) -> _Reply:
        return _Reply(200, {"quotes": self._market.latest_map("quotes", self._symbols(request))})

    def _get_latest_trades(self, request: RecordedRequest) -> _Reply:
        return _Reply(200, {"trades": self._market.latest_map("trades", self._symbols(request))})

    def _get_snapshots(self, request: RecordedRequest) -> _Reply:
        """Snapshots are a top-level ``{SYM: snapshot}`` map (alpaca-py reads them with no_sub_key)."""
        return _Reply(200, self._market.latest_map("snapshots", self._symbols(request)))
