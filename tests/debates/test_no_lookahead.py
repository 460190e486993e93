"""The as-of clock: a debate as of D sees no bar after D, so the future cannot change its answer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import F

from debates.market.services import bars_import
from debates.models import Bar, DebateSession, DebateStatus
from debates.services import debate_run_now

pytestmark = pytest.mark.django_db

D = dt.date(2023, 6, 15)  # a Thursday in the middle of the bundled data


def _tool(session: DebateSession, name: str):
    return session.tool_calls.get(tool=name)


def _snapshot(session: DebateSession) -> dict:
    """Everything the debate concluded, without ids and timings."""
    session.refresh_from_db()
    assert session.status == DebateStatus.COMPLETED, session.error
    consensus = session.consensus
    return {
        "consensus": {
            field: getattr(consensus, field)
            for field in (
                "action",
                "size",
                "confidence",
                "rationale",
                "risk_checks",
                "order_intent",
                "agreement_rate",
                "valid_analysts",
            )
        },
        "messages": [
            (m.role, m.stance, m.confidence, m.signals, m.reasoning, m.key_risks, m.output, m.raw_output)
            for m in session.messages.order_by("role")
        ],
        "tools": [(c.tool, c.arguments, c.result) for c in session.tool_calls.order_by("tool")],
    }


@pytest.mark.parametrize("as_of", [D, dt.date(2021, 3, 1), dt.date(2023, 6, 17)])  # the last is a Saturday
def test_debate_sees_no_bar_after_its_date(arena, as_of):
    session = debate_run_now(symbol="ACME", as_of=as_of)
    assert session.status == DebateStatus.COMPLETED

    bars = _tool(session, "get_bars")
    assert bars.arguments["as_of"] == as_of.isoformat()
    dates = [dt.date.fromisoformat(b["date"]) for b in bars.result_document["bars"]]
    assert dates == sorted(dates)
    assert dates[-1] <= as_of
    last_available = Bar.objects.filter(instrument__symbol="ACME", date__lte=as_of).latest("date").date
    assert dates[-1] == last_available  # up to D, and as close to it as the data allows
    assert Bar.objects.filter(instrument__symbol="ACME", date__gt=as_of).exists()

    quote = _tool(session, "get_quote").result
    assert dt.date.fromisoformat(quote["as_of"]) <= as_of
    last_bar = Bar.objects.get(instrument__symbol="ACME", date=dates[-1])
    assert Decimal(quote["price"]) == last_bar.close


def test_changing_or_adding_future_bars_does_not_change_the_debate(arena):
    before = _snapshot(debate_run_now(symbol="ACME", as_of=D))

    future = Bar.objects.filter(instrument__symbol="ACME", date__gt=D)
    changed = future.update(
        open=F("open") * 3, high=F("high") * 3, low=F("low") * 3, close=F("close") * 3, volume=1
    )
    assert changed > 500
    Bar.objects.filter(instrument__symbol="ACME", date__gt=dt.date(2025, 6, 1)).delete()
    bars_import(
        rows=[
            _Row("ACME", D + dt.timedelta(days=1000 + i), Decimal("1"), Decimal("2"), Decimal("0.5"), 1)
            for i in range(30)
        ],
        source="future",
    )

    after = _snapshot(debate_run_now(symbol="ACME", as_of=D))
    assert after == before


def test_changing_a_bar_on_the_debate_date_does_change_it(arena):
    """The control for the test above: the comparison does notice a change the debate can see."""
    before = _snapshot(debate_run_now(symbol="ACME", as_of=D))

    Bar.objects.filter(instrument__symbol="ACME", date=D).update(
        close=F("close") * Decimal("1.4"), high=F("high") * Decimal("1.4")
    )

    after = _snapshot(debate_run_now(symbol="ACME", as_of=D))
    assert after["tools"] != before["tools"]
    assert after["messages"] != before["messages"]


class _Row:
    def __init__(self, symbol: str, day: dt.date, open_: Decimal, high: Decimal, low: Decimal, volume: int):
        self.symbol, self.date, self.volume = symbol, day, volume
        self.open, self.high, self.low, self.close = open_, high, low, open_
