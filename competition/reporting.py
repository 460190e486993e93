"""Plain-text views of a run for the command line (the command, the demo)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from .models import CompetitionRun, CompetitionScore


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _num(value: float | None, width: int = 6) -> str:
    return " " * (width - 3) + "n/a" if value is None else f"{value:{width}.2f}"


def score_table(run: CompetitionRun) -> list[str]:
    """The ranked score table; '~' marks a rank not distinguishable from the baselines."""
    scores = list(CompetitionScore.objects.filter(run=run).select_related("entry").order_by("rank"))
    header = (
        f"{'rank':>5}  {'entry':<26} {'return':>8} {'95% interval':>19} {'sharpe':>6} {'sortino':>7} "
        f"{'max dd':>7} {'win days':>8} {'trades':>6} {'LLM $':>9} {'$/alpha pp':>10}"
    )
    lines = [header, "-" * len(header)]
    for s in scores:
        interval = (
            f"[{_pct(s.total_return_low)}, {_pct(s.total_return_high)}]"
            if s.total_return_low is not None
            else "n/a"
        )
        per_alpha = "n/a" if s.cost_per_alpha_usd is None else f"{s.cost_per_alpha_usd:.4f}"
        win = "n/a" if s.win_rate is None else f"{s.win_rate:.0%}/{s.active_days}"
        rank = f"{s.rank}{'' if s.distinguishable else '~'}"
        lines.append(
            f"{rank:>5}  {s.entry.label[:26]:<26} {_pct(s.total_return):>8} {interval:>19} {_num(s.sharpe)} "
            f"{_num(s.sortino, 7)} {s.max_drawdown:>7.2%} {win:>8} {s.trades:>6} {s.llm_cost_usd:>9.4f} "
            f"{per_alpha:>10}"
        )
    lines.append(
        "~ = not distinguishable from baseline (its return interval overlaps buy-and-hold's or random's); "
        "$/alpha pp is undefined when the return did not beat buy-and-hold."
    )
    return lines


def validation_message(exc: ValidationError) -> str:
    """One line from a field-keyed ValidationError: 'symbols: Unknown symbol(s): ZZZ.'"""
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)
