"""The outcome rules on hand-computed cases (outcomes.scoring is pure: no database)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from outcomes.scoring import (
    FORWARD_RETURN,
    MARK_TO_MARKET,
    REALISED,
    FillRow,
    classify,
    score_not_traded,
    score_trade,
    status_for,
)

BAND, HOLD_BAND = D("0.001"), D("0.02")


def buy(order: str, qty: str, price: str, fee: str = "0") -> FillRow:
    return FillRow(order, "buy", D(qty), D(price), D(fee))


def sell(order: str, qty: str, price: str, fee: str = "0") -> FillRow:
    return FillRow(order, "sell", D(qty), D(price), D(fee))


def test_open_buy_is_marked_to_market_at_the_horizon() -> None:
    score = score_trade([buy("A", "10", "100")], "A", D("110"))
    assert score is not None
    # 10 x (110 - 100) = 100 on a cost of 1,000
    assert (score.pnl_amount, score.pnl_return, score.basis) == (D("100"), D("0.1"), MARK_TO_MARKET)
    assert (score.entry_price, score.exit_price, score.quantity) == (D("100"), D("110"), D("10"))
    assert status_for("buy", score, flat_band=BAND, hold_band=HOLD_BAND) == "win"


def test_closed_trade_is_realised_and_the_closing_sell_scores_the_fall_it_avoided() -> None:
    fills = [buy("A", "10", "100"), sell("B", "10", "105")]
    opened = score_trade(fills, "A", D("90"))
    closing = score_trade(fills, "B", D("90"))
    assert opened is not None and closing is not None
    # A: realised 10 x (105 - 100) = 50, whatever the horizon mark
    assert (opened.pnl_amount, opened.pnl_return, opened.basis) == (D("50"), D("0.05"), REALISED)
    assert opened.exit_price == D("105")
    # B: sold at 105 before a fall to 90: avoided 10 x 15 = 150 on 1,050 sold
    assert (closing.pnl_amount, closing.pnl_return, closing.basis) == (
        D("150"),
        D("0.142857"),
        MARK_TO_MARKET,
    )


def test_partly_closed_position_adds_realised_and_marked_parts() -> None:
    fills = [buy("A", "10", "100"), sell("B", "4", "110")]
    opened = score_trade(fills, "A", D("120"))
    closing = score_trade(fills, "B", D("120"))
    assert opened is not None and closing is not None
    # A: 4 x 10 realised + 6 x 20 open = 160 on 1,000
    assert (opened.pnl_amount, opened.pnl_return, opened.basis) == (D("160"), D("0.16"), MARK_TO_MARKET)
    assert opened.components["realised"] == "40.0000" and opened.components["unrealised"] == "120.0000"
    # B: sold 4 at 110, the price went on to 120: missed 40 on 440
    assert (closing.pnl_amount, closing.pnl_return) == (D("-40"), D("-0.090909"))
    assert status_for("sell", closing, flat_band=BAND, hold_band=HOLD_BAND) == "loss"


def test_fifo_matches_the_oldest_lot_first() -> None:
    fills = [buy("A", "5", "100"), buy("B", "5", "110"), sell("C", "7", "120")]
    a, b, c = (score_trade(fills, key, D("130")) for key in "ABC")
    assert a is not None and b is not None and c is not None
    assert (a.pnl_amount, a.pnl_return, a.basis) == (D("100"), D("0.2"), REALISED)  # 5 x 20, closed
    assert (b.pnl_amount, b.pnl_return) == (D("80"), D("0.145455"))  # 2 x 10 realised + 3 x 20 open
    assert (c.pnl_amount, c.pnl_return) == (D("-70"), D("-0.083333"))  # 7 x (120 - 130)


def test_a_sell_larger_than_the_position_closes_it_and_opens_a_short() -> None:
    fills = [buy("A", "5", "100"), sell("B", "8", "110")]
    b = score_trade(fills, "B", D("100"))
    assert b is not None
    # closes 5 (avoided 5 x 10 = 50), short 3 from 110 marked at 100 (+30): 80 on 880
    assert (b.pnl_amount, b.pnl_return) == (D("80"), D("0.090909"))
    assert b.components["closing_qty"] == "5" and b.components["open_at_horizon_qty"] == "3"


def test_partial_fills_of_one_order_are_summed() -> None:
    score = score_trade([buy("A", "4", "100"), buy("A", "6", "102")], "A", D("105"))
    assert score is not None
    # cost 400 + 612 = 1,012; 4 x 5 + 6 x 3 = 38
    assert (score.quantity, score.entry_price, score.pnl_amount, score.pnl_return) == (
        D("10"),
        D("101.2"),
        D("38"),
        D("0.037549"),
    )


def test_commissions_are_paid_by_the_decision_whose_fill_it_was() -> None:
    fills = [buy("A", "10", "100", fee="1"), sell("B", "10", "101", fee="1")]
    a, b = score_trade(fills, "A", D("101")), score_trade(fills, "B", D("101"))
    assert a is not None and b is not None
    assert (a.pnl_amount, a.pnl_return) == (D("9"), D("0.009"))  # 10 realised - 1 fee
    assert (b.pnl_amount, b.pnl_return) == (D("-1"), D("-0.00099"))  # nothing avoided, 1 fee
    assert status_for("buy", a, flat_band=BAND, hold_band=HOLD_BAND) == "win"
    assert status_for("sell", b, flat_band=BAND, hold_band=HOLD_BAND) == "flat"


def test_an_order_without_fills_is_not_scored_as_a_trade() -> None:
    assert score_trade([buy("A", "10", "100")], "B", D("110")) is None


@pytest.mark.parametrize(
    ("action", "pnl", "ret", "status"),
    [("buy", D("-50"), D("-0.05"), "loss"), ("sell", D("50"), D("0.05"), "win")],
)
def test_a_directional_call_not_traded_is_scored_by_the_move_it_called(
    action: str, pnl: D, ret: D, status: str
) -> None:
    score = score_not_traded(action=action, entry=D("100"), mark=D("95"), quantity=D("10"))
    assert (score.pnl_amount, score.pnl_return, score.basis) == (pnl, ret, FORWARD_RETURN)
    assert status_for(action, score, flat_band=BAND, hold_band=HOLD_BAND) == status


@pytest.mark.parametrize(
    ("mark", "status"), [("99", "win"), ("102", "win"), ("97.9", "loss"), ("103", "loss")]
)
def test_a_hold_wins_when_the_market_stayed_within_the_hold_band(mark: str, status: str) -> None:
    score = score_not_traded(action="hold", entry=D("100"), mark=D(mark), quantity=None)
    assert score.pnl_amount == 0 and score.quantity is None
    assert score.pnl_return == D(mark) / 100 - 1
    assert status_for("hold", score, flat_band=BAND, hold_band=HOLD_BAND) == status


def test_classify_band_edges_are_flat() -> None:
    assert classify(D("0.001"), BAND) == "flat"
    assert classify(D("-0.001"), BAND) == "flat"
    assert classify(D("0.001001"), BAND) == "win"
    assert classify(D("-0.001001"), BAND) == "loss"
