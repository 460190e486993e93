"""Role prompts as versioned template files, and the one place that renders them.

Templates live in ``agents/prompts/<version>/`` (``analyst_system.md``, ``roles/<role>.md``,
``analyst.md``, ``judge_system.md``, ``judge.md``, ``schema.md``, ``repair*.md``,
``health_check.md``) and use ``$name`` placeholders (:class:`string.Template`). A prompt's identity
is ``<version>/<role>@<hash>``: the hash covers the template files used (not the market data), so a
message records exactly which instructions produced it, and editing a template without bumping
the version still shows up as a new hash. ``ARENA_PROMPT_VERSION`` selects the version; a profile
may pin another with its ``prompt_version`` parameter.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any

from django.conf import settings
from pydantic import BaseModel

from agents import indicators
from agents.memo import IdentityMemo
from agents.models import Role
from agents.schemas import MarketContext

PROMPTS_DIR = Path(__file__).resolve().parent
BARS_IN_PROMPT = 30


class PromptError(Exception):
    """A prompt version or template that does not exist (a configuration error)."""


@dataclass(frozen=True)
class RenderedPrompt:
    system: str
    user: str
    version: str


@lru_cache(maxsize=1)
def available_versions() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in PROMPTS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")))


@lru_cache(maxsize=256)
def _template(version: str, name: str) -> tuple[Template, str]:
    """The template and the sha256 of its source; cached (templates change with a deploy only)."""
    if version not in available_versions():
        raise PromptError(
            f"Unknown prompt version {version!r}; available: {', '.join(available_versions())}."
        )
    path = PROMPTS_DIR / version / f"{name}.md"
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"Prompt template {version}/{name}.md is missing.") from None
    return Template(source.strip()), hashlib.sha256(source.encode()).hexdigest()


def _render(version: str, names: tuple[str, ...], values: dict[str, Any]) -> tuple[list[str], str]:
    texts, digest = [], hashlib.sha256()
    for name in names:
        template, sha = _template(version, name)
        texts.append(template.safe_substitute(values))
        digest.update(sha.encode())
    return texts, digest.hexdigest()[:12]


def prompt_version_for(params: dict[str, Any]) -> str:
    return str(params.get("prompt_version") or settings.ARENA_PROMPT_VERSION)


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2%}" if pct else f"{value:.4g}"


def _indicator_lines(context: MarketContext) -> str:
    if not context.bars:
        return "none (no bars)"
    ind = indicators.computed_once(context.bars)
    rows = [
        ("close", _fmt(ind.close)),
        ("sma_20", _fmt(ind.sma_20)),
        ("sma_50", _fmt(ind.sma_50)),
        ("sma_200", _fmt(ind.sma_200)),
        ("rsi_14", _fmt(ind.rsi_14)),
        ("macd_histogram", _fmt(ind.macd_hist)),
        ("return_20d", _fmt(ind.return_20d, pct=True)),
        ("return_60d", _fmt(ind.return_60d, pct=True)),
        ("return_250d", _fmt(ind.return_250d, pct=True)),
        ("volatility_20d_annualised", _fmt(ind.volatility_20d, pct=True)),
        ("max_drawdown_60d", _fmt(ind.drawdown_60d, pct=True)),
        ("atr_14_pct_of_close", _fmt(ind.atr_pct_14, pct=True)),
        ("bollinger_pct_b", _fmt(ind.bollinger_pct_b)),
        ("range_position_252d", _fmt(ind.range_position_252d)),
    ]
    return "\n".join(f"- {name}: {value}" for name, value in rows) + f"\n- bars_available: {ind.bars}"


def _context_values(context: MarketContext) -> dict[str, Any]:
    quote = context.quote
    change = "n/a" if quote.change_pct is None else f"{quote.change_pct:+.2f}%"
    bars = context.bars[-BARS_IN_PROMPT:]
    account = context.account
    positions = ", ".join(f"{p.symbol} {p.quantity} @ {p.average_price}" for p in context.positions)
    return {
        "symbol": context.symbol,
        "as_of": context.as_of.isoformat(),
        "quote": f"{quote.price} (previous close {quote.previous_close or 'n/a'}, change {change})",
        "indicators": _indicator_lines(context),
        "bar_count": len(bars),
        "bars": "\n".join(f"{b.date},{b.open},{b.high},{b.low},{b.close},{b.volume}" for b in bars) or "none",
        "account": f"cash {account.cash}, equity {account.equity}, buying power {account.buying_power}",
        "positions": positions or "none",
    }


# Every agent of a debate renders the same frozen context: its lines are built once per context.
_context_values_once: IdentityMemo[MarketContext, dict[str, Any]] = IdentityMemo(_context_values)


def render_agent_prompt(
    *, role: str, context: MarketContext, analyst_views: tuple[Any, ...], quorum: int, version: str
) -> RenderedPrompt:
    """The system and user messages for one role on one market context."""
    values = dict(_context_values_once(context))  # a copy: the role's own values are added below
    title = Role(role).label if role in Role.values else role
    values.update(role_title=title.lower())
    if role == Role.JUDGE:
        views = "\n".join(
            json.dumps({"role": v.role, **v.output.model_dump(mode="json")}, separators=(",", ":"))
            for v in analyst_views
        )
        values.update(analyst_views=views or "none", view_count=len(analyst_views), quorum=quorum)
        (system, user), digest = _render(version, ("judge_system", "judge"), values)
    else:
        _brief, _sha = _template(version, f"roles/{role}")
        values["role_brief"] = _brief.safe_substitute(values)
        (_, system, user), digest = _render(version, (f"roles/{role}", "analyst_system", "analyst"), values)
    return RenderedPrompt(system=system, user=user, version=f"{version}/{role}@{digest}")


@lru_cache(maxsize=64)
def schema_json(model: type[BaseModel]) -> str:
    """The model's JSON schema as compact text (cached: pydantic rebuilds a schema in ~2 ms)."""
    return json.dumps(model.model_json_schema(), separators=(",", ":"), sort_keys=True)


@lru_cache(maxsize=64)
def render_schema_instructions(model: type[BaseModel], *, version: str) -> str:
    (text,), _digest = _render(version, ("schema",), {"schema": schema_json(model)})
    return text


def render_repair_prompt(*, model: type[BaseModel], raw: str, errors: str, version: str) -> RenderedPrompt:
    values = {"schema": schema_json(model), "errors": errors or "(not valid JSON)", "raw": raw or "(empty)"}
    (system, user), digest = _render(version, ("repair_system", "repair"), values)
    return RenderedPrompt(system=system, user=user, version=f"{version}/repair@{digest}")


def render_health_check_prompt(*, nonce: str, version: str) -> RenderedPrompt:
    (user,), digest = _render(version, ("health_check",), {"nonce": nonce})
    return RenderedPrompt(system="", user=user, version=f"{version}/health_check@{digest}")
