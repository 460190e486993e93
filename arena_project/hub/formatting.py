"""How the hub writes numbers: money, percentages, durations, counts and token totals.

Pure functions, so charts, templates and tests share one notion of "formatted". Every function
accepts ``None`` (a value not recorded, e.g. tokens before the LLM call ledger) and shows an em dash
for it rather than a misleading zero.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MISSING = "—"

Number = Decimal | float | int


def _decimal(value: Number | str | None) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def money(value: Number | str | None) -> str:
    """US dollars: cents from one cent up, four significant decimals below (LLM calls are cheap)."""
    number = _decimal(value)
    if number is None:
        return MISSING
    sign = "-" if number < 0 else ""
    number = abs(number)
    if number == 0:
        return "$0.00"
    if number >= Decimal("0.01"):
        return f"{sign}${number.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"
    # Below a cent keep two significant digits, at least four decimals: $0.0021, $0.00021.
    exponent = number.adjusted()  # -3 for 0.0021
    places = max(4, -exponent + 1)
    text = f"{number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    return f"{sign}${text}"


def percent(value: Number | None, digits: int = 0) -> str:
    """A ratio (0.823) as a percentage ("82%")."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return f"{float(number) * 100:.{digits}f}%"


def signed_percent(value: Number | None, digits: int = 1) -> str:
    """A return (0.0123) as "+1.2%", with its sign always shown."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return f"{float(number) * 100:+.{digits}f}%"


def count(value: Number | None) -> str:
    """An integer with thousands separators."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return f"{int(number):,}"


def compact(value: Number | None) -> str:
    """A large count in short form: 950, 12.3k, 4.1M (token totals)."""
    number = _decimal(value)
    if number is None:
        return MISSING
    n = float(number)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{int(n):,}"


def duration_ms(value: Number | None) -> str:
    """Milliseconds as a person reads them: 850 ms, 1.2 s, 2 min 05 s, 1 h 02 min."""
    number = _decimal(value)
    if number is None:
        return MISSING
    ms = float(number)
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def ratio(numerator: Number | None, denominator: Number | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)
