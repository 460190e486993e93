"""The orjson renderer writes DRF's JSONRenderer's answer (arena_project/renderers.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal

import pytest
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from arena_project.renderers import OrjsonRenderer


def _both(data, media_type=None, context=None):
    return OrjsonRenderer().render(data, media_type, context), JSONRenderer().render(
        data, media_type, context
    )


def test_plain_answers_are_byte_identical():
    rng = random.Random(7)
    rows = [
        {
            "name": f"agent-{i} é ü 中",
            "rate": {"value": rng.random(), "n": rng.randrange(10**9), "low": None, "high": rng.random()},
            "pnl": f"{rng.uniform(-1e6, 1e6):.4f}",
            "alpha": rng.uniform(-100, 100),
            "flags": [True, False, None],
            "zero": 0.0,
            "big": 1234567890.5,
        }
        for i in range(200)
    ]
    ours, drf = _both({"count": 200, "next": None, "results": rows, "line": "a\u2028b\u2029c"})
    assert ours == drf
    assert b"\\u2028" in ours and "\u2028".encode() not in ours


@pytest.mark.parametrize("value", [1e-05, 1.5e-07, 1e16, 1e22, -2.5e-300, 0.1])
def test_a_float_reads_back_as_the_same_number(value):
    ours, drf = _both({"x": value})
    assert json.loads(ours) == json.loads(drf) == {"x": value}


@pytest.mark.parametrize(
    "data",
    [
        {"amount": Decimal("1.50")},
        {"at": dt.datetime(2025, 6, 15, 12, 0, 0, 123456, tzinfo=dt.UTC)},
        {"day": dt.date(2025, 6, 15)},
        {"detail": ErrorDetail("Must be a whole number.", code="invalid")},
        {"huge": 2**70},
        {1: "a non-text key"},
    ],
)
def test_values_orjson_does_not_write_natively_go_through_drf(data):
    ours, drf = _both(data)
    assert ours == drf


def test_indented_and_empty_answers_go_through_drf():
    data = {"a": [1, 2.5, "x"]}
    assert _both(data, "application/json; indent=4")[0] == _both(data, "application/json; indent=4")[1]
    assert b"\n" in _both(data, "application/json; indent=4")[0]
    assert _both(data, None, {"indent": 2})[0] == _both(data, None, {"indent": 2})[1]
    assert OrjsonRenderer().render(None) == b""
