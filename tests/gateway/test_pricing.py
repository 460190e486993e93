"""Costs from genai-prices, profile overrides, and unknown prices staying unknown."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.pricing import call_cost, price_known, worst_case_cost
from agents.providers.base import ProfileSpec, Usage


def spec(provider: str, model: str, **fields) -> ProfileSpec:
    return ProfileSpec(id=1, name="p", role="bull", provider=provider, model=model, tier="cheap", **fields)


def test_openai_cost_counts_cached_input_at_the_cached_price() -> None:
    usage = Usage(input_tokens=1000, cached_tokens=800, output_tokens=200)
    assert call_cost(spec("openai", "gpt-4o-mini"), usage) == Decimal("0.00021")
    assert call_cost(spec("openai", "gpt-4o-mini"), Usage(1_000_000, 1_000_000)) == Decimal("0.75")


def test_anthropic_input_is_summed_with_cache_reads_and_writes() -> None:
    usage = Usage(input_tokens=100, cached_tokens=800, cache_write_tokens=100, output_tokens=200)
    assert call_cost(spec("anthropic", "claude-3-5-haiku-20241022"), usage) == Decimal("0.001044")
    assert call_cost(spec("anthropic", "claude-haiku-4-5"), Usage(1000, 200)) == Decimal("0.002")


def test_profile_override_prices_a_model_the_database_does_not_know() -> None:
    local = spec(
        "openai_compatible",
        "llama3.2",
        base_url="http://127.0.0.1:11434/v1",
        price_input_per_mtok=Decimal("0.5"),
        price_output_per_mtok=Decimal("1.5"),
    )
    assert call_cost(local, Usage(2000, 1000)) == Decimal("0.0025")
    assert price_known(local)


def test_override_wins_over_the_database() -> None:
    priced = spec("openai", "gpt-4o-mini", price_input_per_mtok=Decimal(1), price_output_per_mtok=Decimal(2))
    assert call_cost(priced, Usage(1_000_000, 1_000_000)) == Decimal(3)


@pytest.mark.parametrize(
    "profile",
    [
        spec("openai_compatible", "llama3.2", base_url="http://127.0.0.1:11434/v1"),
        spec("openai", "no-such-model-xyz"),
        spec("anthropic", "claude-imaginary-9"),
    ],
)
def test_unknown_price_is_none_never_zero(profile: ProfileSpec) -> None:
    assert call_cost(profile, Usage(1000, 200)) is None
    assert worst_case_cost(profile, input_tokens=1000, output_tokens=200) is None
    assert not price_known(profile)


def test_compatible_server_can_name_its_price_provider() -> None:
    proxied = spec(
        "openai_compatible", "gpt-4o-mini", base_url="http://proxy/v1", params={"pricing_provider": "openai"}
    )
    assert call_cost(proxied, Usage(1000, 200, cached_tokens=800)) == Decimal("0.00021")


def test_missing_usage_is_unknown_and_rules_are_free() -> None:
    assert call_cost(spec("openai", "gpt-4o-mini"), None) is None
    assert call_cost(spec("rules", "rules-v1"), None) == Decimal(0)


def test_worst_case_is_an_upper_bound_rounded_up() -> None:
    s = spec("openai", "gpt-4o-mini")
    worst = worst_case_cost(s, input_tokens=1001, output_tokens=333)
    assert worst is not None
    assert worst >= call_cost(s, Usage(1001, 333, cached_tokens=500))
    assert worst == worst.quantize(Decimal("0.0000000001"))
