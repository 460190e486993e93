"""What the leaderboard page draws from the leaderboard selector's rows: sortable column headers and
the three charts (cost vs hit rate, calibration, cost per unit of alpha).

Pure functions over ``competition.selectors.LeaderboardRow``: no query of their own. The rows are
one per profile, already aggregated in SQL, so the charts cover every row of the query, not only
the page shown (capped at ``CHART_ROWS`` by the chosen order, so the labels stay readable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from competition.selectors import LeaderboardRow

CHART_ROWS = 30


@dataclass(frozen=True)
class Column:
    """A sortable header: clicking it sorts by ``key``, descending first, then toggles."""

    key: str
    label: str
    numeric: bool = True
    title: str = ""
    sort: str = ""  # the ?sort= value the header links to
    active: str = ""  # "ascending" / "descending" when the table is sorted by it


_COLUMNS = (
    ("name", "Profile", False, "Name of the profile"),
    ("decisions", "Decisions", True, "Decisions it took part in"),
    ("hit_rate_low", "Hit rate", True, "Directional calls that were right; 95 % Wilson interval below"),
    ("win_rate_low", "Win rate", True, "Settled decisions that made money; 95 % interval below"),
    ("pnl_usd", "PnL", True, "Money actually made by the decisions it took part in"),
    ("avg_confidence", "Avg confidence", True, ""),
    ("brier", "Brier", True, "Calibration: mean squared error of confidence vs hit (lower is better)"),
    ("cost_usd", "LLM cost", True, "Known spend of its calls (the ledger)"),
    ("cost_per_decision_usd", "Cost / decision", True, ""),
    ("alpha_pp", "Alpha", True, "Return above each symbol's own move, percentage points"),
    ("cost_per_alpha_usd", "Cost / alpha pp", True, "LLM $ per point of alpha; undefined when alpha <= 0"),
    ("avg_latency_ms", "Avg latency", True, ""),
    ("escalation_share", "Escalated", True, "Share of its decisions that escalated"),
)
# Lower is better for these: their first click sorts ascending.
_ASCENDING_FIRST = {
    "name",
    "brier",
    "cost_usd",
    "cost_per_decision_usd",
    "cost_per_alpha_usd",
    "avg_latency_ms",
}


def leaderboard_columns(sort: str) -> list[Column]:
    """The table's headers, each linking to its sort (toggling the direction of the current one)."""
    current, descending = sort.removeprefix("-"), sort.startswith("-")
    columns = []
    for key, label, numeric, title in _COLUMNS:
        if key == current:
            link = key if descending else f"-{key}"
            active = "descending" if descending else "ascending"
        else:
            link = key if key in _ASCENDING_FIRST else f"-{key}"
            active = ""
        columns.append(Column(key, label, numeric, title, link, active))
    return columns


def leaderboard_charts(rows: Sequence[LeaderboardRow]) -> dict[str, Any]:
    """Points for the three charts, from the first ``CHART_ROWS`` rows in the page's order.

    - cost vs hit rate: (LLM cost, hit rate, name) for rows with a settled directional call;
    - calibration: (average confidence, hit rate, name): a calibrated profile sits on y = x;
    - cost per unit of alpha: (name, $ per alpha pp), only where alpha > 0 (undefined otherwise).
    """
    shown = list(rows[:CHART_ROWS])
    with_hits = [r for r in shown if r.hit_rate.value is not None]
    return {
        "cost_hit_points": [(float(r.cost_usd), r.hit_rate.value, r.name) for r in with_hits],
        "calibration_points": [
            (r.avg_confidence, r.hit_rate.value, r.name) for r in with_hits if r.avg_confidence is not None
        ],
        "cost_alpha_items": [
            (r.name, float(r.cost_per_alpha_usd)) for r in shown if r.cost_per_alpha_usd is not None
        ],
        "chart_rows": len(shown),
    }
