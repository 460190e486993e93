"""Wire-format helpers shared by the fake Alpaca trading ledger, market data store and HTTP server.

Alpaca sends money and quantities as decimal *strings* and timestamps as RFC 3339 with a ``Z`` suffix;
alpaca-py validates every response with pydantic, so these helpers keep the fake byte-compatible.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

Number = Decimal | float | int | str

_NANO = Decimal("0.000000001")
_ASSET_NAMESPACE = uuid.UUID("6d6b2a4e-7c0a-4b7e-9a51-0f1d3c2b9a10")


class AlpacaHTTPError(Exception):
    """An error answered with Alpaca's ``{"code", "message"}`` body so ``APIError.code`` works on it."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        """Return the JSON body Alpaca would send for this error."""
        return {"code": self.code, "message": self.message}


def unprocessable(message: str) -> AlpacaHTTPError:
    """Alpaca answers invalid order requests with 422 and code 40010001."""
    return AlpacaHTTPError(422, 40010001, message)


def not_found(message: str) -> AlpacaHTTPError:
    """Unknown orders, positions and assets are 404 with code 40410000."""
    return AlpacaHTTPError(404, 40410000, message)


def forbidden(message: str) -> AlpacaHTTPError:
    """Insufficient buying power / quantity is 403 with code 40310000."""
    return AlpacaHTTPError(403, 40310000, message)


def bad_request(message: str) -> AlpacaHTTPError:
    """Malformed query parameters (data API) are 400 with code 40010000."""
    return AlpacaHTTPError(400, 40010000, message)


def to_decimal(value: Number, field: str = "value") -> Decimal:
    """Parse a number the way Alpaca does, going through ``str`` so floats such as 0.1 stay exact-looking."""
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise unprocessable(f"invalid {field}: {value!r}") from exc
    if not result.is_finite():
        raise unprocessable(f"invalid {field}: {value!r}")
    return result


def quantize(value: Decimal) -> Decimal:
    """Round to nine decimals, Alpaca's precision for prices and fractional quantities."""
    return value.quantize(_NANO, rounding=ROUND_HALF_EVEN)


def fmt_decimal(value: Decimal | None) -> str | None:
    """Render like Alpaca: ``"10"``, ``"150.25"`` — no exponent, no trailing zeros, ``None`` stays null."""
    if value is None:
        return None
    text = format(quantize(value).normalize(), "f")
    return "0" if text in {"-0", ""} else text


def utc_now() -> datetime:
    """Aware current time; the server lets tests swap this out for a deterministic clock."""
    return datetime.now(UTC)


def rfc3339(moment: datetime | None) -> str | None:
    """Format as RFC 3339 UTC with ``Z``; sub-second digits only when present, as Alpaca does for bars."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(pattern)


def parse_time(value: str | datetime | date, field: str = "timestamp") -> datetime:
    """Accept RFC 3339 (``Z`` or offset), naive ISO (assumed UTC) or a bare date, as Alpaca's API does."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
    try:
        # An unencoded "+" in a query string arrives as a space: "...T10:00:00 00:00".
        text = re.sub(r" (\d{2}:\d{2})$", r"+\1", text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"invalid {field}: {value!r}") from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def asset_id(symbol: str) -> str:
    """A stable per-symbol UUID, so the asset_id of orders and positions agree across calls."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, symbol.upper()))
