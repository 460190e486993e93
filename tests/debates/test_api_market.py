"""The market API: symbols with their date spans, and bars with a date range."""

from __future__ import annotations

import datetime as dt

import pytest

from debates.models import Bar

pytestmark = pytest.mark.django_db

SYMBOLS = "/api/market/symbols"
BUNDLED = ["ACME", "BOLT", "CYAN", "DUNE", "EPIC", "FLUX"]


def _bars(symbol: str) -> str:
    return f"{SYMBOLS}/{symbol}/bars"


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    return body


@pytest.mark.parametrize("path", [SYMBOLS, SYMBOLS + "/"])
def test_market_symbols_list_has_first_and_last_dates(arena, api_client, path):
    response = api_client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 6
    rows = body["results"]
    assert [r["symbol"] for r in rows] == BUNDLED
    for row in rows:
        bars = Bar.objects.filter(instrument__symbol=row["symbol"]).order_by("date")
        assert row["first_date"] == bars.first().date.isoformat() == "2021-01-04"
        assert row["last_date"] == bars.last().date.isoformat() == "2025-12-31"
        assert row["bar_count"] == bars.count() == 1303
        assert row["synthetic"] is True


def test_market_symbols_list_reflects_imported_bars(arena, api_client):
    acme = Bar.objects.filter(instrument__symbol="ACME")
    acme.filter(date__lt=dt.date(2022, 1, 1)).delete()
    row = next(r for r in api_client.get(SYMBOLS).json()["results"] if r["symbol"] == "ACME")
    assert row["first_date"] == acme.order_by("date").first().date.isoformat()
    assert row["first_date"] >= "2022-01-01"
    assert row["bar_count"] == acme.count()


@pytest.mark.parametrize("suffix", ["", "/"])
def test_market_bars_with_start_and_end(arena, api_client, suffix):
    response = api_client.get(_bars("ACME") + suffix, {"start": "2024-01-01", "end": "2024-01-31"})
    assert response.status_code == 200, response.content
    body = response.json()
    rows = body["results"]
    expected = Bar.objects.filter(
        instrument__symbol="ACME", date__range=(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    ).order_by("date")
    assert body["count"] == expected.count() == 23  # business days, no holidays
    assert [r["date"] for r in rows] == [b.date.isoformat() for b in expected]
    assert rows[0]["date"] >= "2024-01-01" and rows[-1]["date"] <= "2024-01-31"
    first = expected.first()
    assert rows[0]["close"] == f"{first.close:.4f}"
    assert set(rows[0]) == {"date", "open", "high", "low", "close", "volume", "source"}


def test_market_bars_symbol_is_case_insensitive(arena, api_client):
    response = api_client.get(_bars("acme"), {"start": "2025-12-31"})
    assert response.status_code == 200
    assert [r["date"] for r in response.json()["results"]] == ["2025-12-31"]


def test_market_bars_only_start_or_only_end(arena, api_client):
    after = api_client.get(_bars("BOLT"), {"start": "2025-12-01", "page_size": 500}).json()
    assert after["count"] == 23
    assert all(r["date"] >= "2025-12-01" for r in after["results"])
    before = api_client.get(_bars("BOLT"), {"end": "2021-01-08"}).json()
    assert [r["date"] for r in before["results"]] == [
        "2021-01-04",
        "2021-01-05",
        "2021-01-06",
        "2021-01-07",
        "2021-01-08",
    ]


def test_market_bars_without_range_are_paginated(arena, api_client):
    body = api_client.get(_bars("CYAN"), {"page_size": 100}).json()
    assert body["count"] == 1303
    assert len(body["results"]) == 100
    assert body["next"]
    assert body["results"][0]["date"] == "2021-01-04"


def test_market_bars_empty_range(arena, api_client):
    body = api_client.get(_bars("ACME"), {"start": "2030-01-01"}).json()
    assert body["count"] == 0 and body["results"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2024-13-01"}, "start"),
        ({"start": "not-a-date"}, "start"),
        ({"end": "2024-02-30"}, "end"),
        ({"start": "2024-02-01", "end": "2024-01-01"}, "end"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "100000"}, "page_size"),
        ({"page": "zero"}, "page"),
        ({"since": "2024-01-01"}, "since"),
    ],
)
def test_market_bars_bad_query_is_400(arena, api_client, query, field):
    body = _error(api_client.get(_bars("ACME"), query), 400)
    assert body["extra"]["fields"][field]


@pytest.mark.parametrize("symbol", ["ZZZZ", "nope"])
def test_market_bars_unknown_symbol_is_404(arena, api_client, symbol):
    body = _error(api_client.get(_bars(symbol)), 404)
    assert body["code"] == "not_found"
    assert symbol in body["message"]


def test_market_bars_page_out_of_range_is_404(arena, api_client):
    _error(api_client.get(_bars("ACME"), {"page": 999}), 404)


def test_market_api_needs_credentials(arena, anon_client):
    assert _error(anon_client.get(SYMBOLS), 401)["code"] == "not_authenticated"
    assert _error(anon_client.get(_bars("ACME")), 401)["code"] == "not_authenticated"


@pytest.mark.parametrize("query", [{"page": "0"}, {"page": ""}, {"page_size": "abc"}, {"page_size": "501"}])
def test_market_symbols_bad_pagination_is_400(arena, api_client, query):
    body = _error(api_client.get(SYMBOLS, query), 400)
    assert set(body["extra"]["fields"]) == set(query)
