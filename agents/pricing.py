"""What a call cost, from a maintained price database, never from a hand-written table.

The source is `genai-prices` (Pydantic's package, data from github.com/pydantic/genai-prices): its
price data ships inside the wheel, so pricing works offline and is reproducible for a pinned
version; it knows cache-read and cache-write prices, tiered prices (e.g. above 200k tokens) and
price changes over time, and it matches providers by id or by API URL. A profile may override the
input/output price per million tokens, for models the database does not know (a local model, a
private deployment). A model that is neither known nor overridden costs ``None``: unknown, never 0.

Token conventions differ by provider (see :class:`agents.providers.base.Usage`): genai-prices wants
the TOTAL input tokens including cache reads and writes, which OpenAI reports as ``input_tokens``
and Anthropic splits into three numbers, so Anthropic's are summed here.
"""

from __future__ import annotations

import warnings
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from importlib.metadata import version

from agents.models import Provider
from agents.providers.base import ProfileSpec, Usage

PRICE_SOURCE = f"genai-prices {version('genai-prices')}"
COST_QUANTUM = Decimal("0.0000000001")  # 10 decimal places, as stored on the ledger
_MILLION = Decimal(1_000_000)


def _total_input(spec: ProfileSpec, usage: Usage) -> int:
    if spec.provider == Provider.ANTHROPIC:
        return usage.input_tokens + usage.cached_tokens + usage.cache_write_tokens
    return usage.input_tokens


def _override(spec: ProfileSpec, usage: Usage) -> Decimal | None:
    if spec.price_input_per_mtok is None or spec.price_output_per_mtok is None:
        return None
    total_input = _total_input(spec, usage)
    return (
        Decimal(total_input) * Decimal(spec.price_input_per_mtok)
        + Decimal(usage.output_tokens) * Decimal(spec.price_output_per_mtok)
    ) / _MILLION


def _database_price(
    provider: str, base_url: str, pricing_provider: str, model: str, total_in: int, cr: int, cw: int, out: int
) -> Decimal | None:
    import genai_prices  # deferred: loading its price data costs ~0.3 s, rules-only runs never need it

    usage = genai_prices.Usage(
        input_tokens=total_in, cache_read_tokens=cr, cache_write_tokens=cw, output_tokens=out
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if provider in (Provider.OPENAI, Provider.ANTHROPIC):
                price = genai_prices.calc_price(usage, model, provider_id=provider)
            elif pricing_provider:
                price = genai_prices.calc_price(usage, model, provider_id=pricing_provider)
            elif base_url:
                price = genai_prices.calc_price(usage, model, provider_api_url=base_url)
            else:
                return None
    except LookupError:
        return None
    return Decimal(price.total_price)


def call_cost(spec: ProfileSpec, usage: Usage | None) -> Decimal | None:
    """The USD cost of one call with ``usage``; ``None`` when usage or the price is unknown.

    Profile overrides win over the database; the result is quantized to the ledger's precision.
    """
    if spec.provider == Provider.RULES:
        return Decimal(0)
    if usage is None:
        return None
    cost = _override(spec, usage)
    if cost is None:
        cost = _database_price(
            spec.provider,
            spec.base_url,
            str(spec.params.get("pricing_provider", "")),
            spec.model,
            _total_input(spec, usage),
            usage.cached_tokens,
            usage.cache_write_tokens,
            usage.output_tokens,
        )
    return None if cost is None else cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


def worst_case_cost(spec: ProfileSpec, *, input_tokens: int, output_tokens: int) -> Decimal | None:
    """An upper bound of a call's cost: every input token uncached, the full output allowance.

    Rounded up, so a budget reservation is never smaller than what it stands for.
    """
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    cost = _override(spec, usage)
    if cost is None:
        cost = (
            Decimal(0)
            if spec.provider == Provider.RULES
            else _database_price(
                spec.provider,
                spec.base_url,
                str(spec.params.get("pricing_provider", "")),
                spec.model,
                input_tokens,
                0,
                0,
                output_tokens,
            )
        )
    return None if cost is None else cost.quantize(COST_QUANTUM, rounding=ROUND_CEILING)


def price_known(spec: ProfileSpec) -> bool:
    """Whether calls of this profile get a cost (an override, or a model the database knows)."""
    return worst_case_cost(spec, input_tokens=1, output_tokens=1) is not None
