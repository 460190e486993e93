"""Management commands: run_debate, import_bars, seed_demo and demo, in-process and as real processes."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from agents.models import AgentProfile, Panel, PanelSeat, Role
from debates.models import Bar, DebateConsensus, DebateSession, DebateStatus, Instrument

pytestmark = pytest.mark.django_db

ANALYST_ROLES = ("bull", "bear", "risk_manager", "technical_analyst", "fundamental_analyst")
HEADER = "symbol,date,open,high,low,close,volume"


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _command_error(*args: str) -> str:
    with pytest.raises(CommandError) as info:
        _run(*args)
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


# --- run_debate -------------------------------------------------------------------------------------


def test_run_debate_prints_the_table_and_the_consensus(arena):
    out = _run("run_debate", "acme", "--as-of", "2024-03-01")

    session = DebateSession.objects.get()
    assert session.status == DebateStatus.COMPLETED
    assert f"Debate #{session.pk} on ACME as of 2024-03-01 (panel {arena.name}): completed" in out
    lines = out.splitlines()
    for role in ANALYST_ROLES:
        row = next((line for line in lines if line.startswith(role + " ")), None)
        assert row is not None, f"{role} missing from:\n{out}"
        assert re.search(r"\b(bullish|bearish|neutral)\b", row)
        assert re.search(r"\b[01]\.\d\d\b", row)  # confidence
    consensus = DebateConsensus.objects.get(session=session)
    assert f"Consensus: {consensus.action.upper()}" in out
    assert "Cost: $0.000000" in out


def test_run_debate_json_has_the_api_detail_shape(arena, api_client):
    out = _run("run_debate", "BOLT", "--as-of", "2023-09-29", "--json")
    data = json.loads(out)

    session = DebateSession.objects.get()
    api = api_client.get(f"/api/debate/sessions/{session.pk}").json()
    assert set(data) == set(api)
    assert data["id"] == api["id"] == session.pk
    assert data["status"] == "completed"
    assert data["consensus"] == api["consensus"]
    assert len(data["messages"]) == 6
    assert [set(m) for m in data["messages"]] == [set(m) for m in api["messages"]]
    assert [(m["role"], m["stance"], m["confidence"]) for m in data["messages"]] == [
        (m["role"], m["stance"], m["confidence"]) for m in api["messages"]
    ]
    assert [c["tool"] for c in data["tool_calls"]] == [c["tool"] for c in api["tool_calls"]]


def test_run_debate_with_a_named_panel(arena):
    out = _run("run_debate", "CYAN", "--panel", arena.name)
    assert f"(panel {arena.name})" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("ZZZZ",), "Unknown symbol 'ZZZZ'"),
        (("ACME", "--as-of", "2024-02-30"), "--as-of '2024-02-30' is not a date"),
        (("ACME", "--as-of", "yesterday"), "is not a date"),
        (("ACME", "--as-of", "2019-01-01"), "No bars for ACME on or before 2019-01-01"),
        (("ACME", "--panel", "nope"), "Unknown panel 'nope'"),
    ],
)
def test_run_debate_refuses_bad_input_in_one_line(arena, args, expected):
    assert expected in _command_error("run_debate", *args)
    assert not DebateSession.objects.exists()


def test_run_debate_exits_with_an_error_when_the_debate_fails(arena):
    AgentProfile.objects.filter(role=Role.JUDGE).update(active=False)
    message = _command_error("run_debate", "ACME")
    session = DebateSession.objects.get()
    assert session.status == DebateStatus.FAILED
    assert message.startswith(f"Debate {session.pk} failed:")


# --- import_bars ------------------------------------------------------------------------------------


def _rows(symbol: str, days: int, start: dt.date = dt.date(2024, 1, 1), base: float = 50.0) -> list[str]:
    rows, day = [], start
    while len(rows) < days:
        if day.weekday() < 5:
            p = base + len(rows) * 0.25
            rows.append(f"{symbol},{day.isoformat()},{p:.2f},{p + 1:.2f},{p - 1:.2f},{p + 0.5:.2f},1000")
        day += dt.timedelta(days=1)
    return rows


def _csv(tmp_path: Path, rows: list[str], name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_import_bars_imports_a_valid_file(arena, tmp_path):
    before = Bar.objects.count()
    path = _csv(tmp_path, _rows("NEWX", 40) + _rows("OLDY", 5))

    out = _run("import_bars", str(path))

    assert "Imported 45 bars (NEWX 40, OLDY 5)." in out
    assert Bar.objects.count() == before + 45
    assert Bar.objects.filter(instrument__symbol="NEWX").count() == 40
    first = Bar.objects.filter(instrument__symbol="NEWX").order_by("date").first()
    assert first.date == dt.date(2024, 1, 1)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Decimal("50.00"),
        Decimal("51.00"),
        Decimal("49.00"),
        Decimal("50.50"),
        1000,
    )
    assert first.source == "csv"


def test_import_bars_is_idempotent_and_updates_changed_rows(arena, tmp_path):
    rows = _rows("NEWX", 10)
    path = _csv(tmp_path, rows)
    _run("import_bars", str(path))
    count = Bar.objects.count()

    _run("import_bars", str(path))
    assert Bar.objects.count() == count

    symbol, day, o, h, lo, _close, _volume = rows[3].split(",")
    rows[3] = ",".join([symbol, day, o, h, lo, o, "777"])
    _run("import_bars", str(_csv(tmp_path, rows, "changed.csv")), "--source", "vendor")
    assert Bar.objects.count() == count
    bar = Bar.objects.get(instrument__symbol="NEWX", date=dt.date.fromisoformat(day))
    assert (bar.close, bar.volume, bar.source) == (Decimal(o), 777, "vendor")
    assert Instrument.objects.filter(symbol="NEWX").count() == 1


def test_import_bars_updates_an_existing_symbol(arena, tmp_path):
    day = dt.date(2024, 3, 1)
    count = Bar.objects.count()
    _run("import_bars", str(_csv(tmp_path, [f"ACME,{day},10,12,9,11,5"])))
    assert Bar.objects.count() == count
    assert Bar.objects.get(instrument__symbol="ACME", date=day).close == Decimal("11")


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        ("NEWX,2024-01-08,10,9,11,10,100", "high 9 is below low 11"),
        ("NEWX,2024-02-30,10,11,9,10,100", "date '2024-02-30' is not a real calendar date"),
        ("NEWX,2024-01-08,10,11,9,abc,100", "close 'abc' is not a number"),
        ("NEWX,2024-01-08,10,11,9,10,-5", "volume -5 must not be negative"),
        ("NEWX,2024-01-08,10,11,9,10", "expected 7 fields, got 6"),
        ("NEWX,2024-01-02,10,11,9,10,100", "duplicate NEWX 2024-01-02: already on line 3"),
    ],
)
def test_import_bars_bad_row_names_the_line_and_imports_nothing(arena, tmp_path, bad_row, reason):
    bars, instruments = Bar.objects.count(), Instrument.objects.count()
    good = _rows("NEWX", 3) + _rows("ACME", 3, start=dt.date(2024, 6, 3), base=500)
    # Line 1 is the header; lines 2-4 are good; line 5 is bad; good rows follow it.
    rows = [*good[:3], bad_row, *good[3:]]
    path = _csv(tmp_path, rows)

    message = _command_error("import_bars", str(path))

    assert message == f"{path}: line 5: {reason}"
    assert Bar.objects.count() == bars
    assert Instrument.objects.count() == instruments
    assert not Instrument.objects.filter(symbol="NEWX").exists()


def test_import_bars_refuses_a_bad_header(arena, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("symbol,day,open,high,low,close,volume\nNEWX,2024-01-02,1,1,1,1,1\n")
    message = _command_error("import_bars", str(path))
    assert "header: missing column(s): date" in message
    assert not Instrument.objects.filter(symbol="NEWX").exists()


def test_import_bars_missing_file_is_one_line(arena, tmp_path):
    path = tmp_path / "missing.csv"
    message = _command_error("import_bars", str(path))
    assert message == f"{path}: cannot read file: No such file or directory"


def test_import_bars_refuses_a_binary_file(arena, tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    message = _command_error("import_bars", str(path))
    assert str(path) in message


# --- seed_demo and demo -----------------------------------------------------------------------------


def _counts() -> dict[str, int]:
    return {
        "profiles": AgentProfile.objects.count(),
        "panels": Panel.objects.count(),
        "seats": PanelSeat.objects.count(),
        "instruments": Instrument.objects.count(),
        "bars": Bar.objects.count(),
        "defaults": Panel.objects.filter(is_default=True).count(),
    }


def test_seed_demo_is_idempotent(arena):
    before = _counts()
    first = _run("seed_demo")
    after_first = _counts()
    _run("seed_demo")
    assert before == after_first == _counts()
    assert after_first == {
        "profiles": 12,
        "panels": 1,
        "seats": 12,
        "instruments": 6,
        "bars": 6 * 1303,
        "defaults": 1,
    }
    assert "Loaded 7818 synthetic daily bars" in first


def test_seed_demo_restores_a_changed_profile(arena):
    AgentProfile.objects.filter(name="rules-bull").update(active=False, model="tampered")
    _run("seed_demo")
    profile = AgentProfile.objects.get(name="rules-bull")
    assert profile.active is True
    assert profile.model == "rules-v1-quick"


def _password(out: str) -> str:
    match = re.search(r"Admin user: admin\s+password: (\S+)", out)
    assert match, out
    return match.group(1)


def test_demo_creates_a_superuser_with_a_printed_password_that_changes_each_run(arena):
    out = _run("demo", "--debates", "2", "--no-competition")
    password = _password(out)
    assert len(password) >= 12

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser and admin.is_active
    client = Client()  # through the admin's own login form, as a person would
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": password})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/debates/debatesession/").status_code == 200
    assert DebateSession.objects.filter(status=DebateStatus.COMPLETED).count() == 2
    assert "ACME" in out and "BOLT" in out

    second = _password(_run("demo", "--debates", "1"))
    assert second != password
    assert get_user_model().objects.filter(username="admin").count() == 1
    assert not Client().login(username="admin", password=password)
    assert Client().login(username="admin", password=second)


# --- real processes: exit codes and stderr ----------------------------------------------------------


@pytest.fixture(scope="module")
def process_env(tmp_path_factory) -> dict[str, str]:
    """An environment whose DATABASE_URL is a fresh, migrated SQLite file (not the test database)."""
    db = tmp_path_factory.mktemp("proc") / "arena.sqlite3"
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{db}"}
    _manage(env, "migrate", "-v0", check=True)
    return env


def _manage(env: dict[str, str], *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_one_line_failure(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert result.stdout == ""


def test_a_command_without_a_secret_key_outside_debug_says_so_in_one_line(process_env):
    """README's commands run outside the demo's shell must not end in a settings traceback."""
    env = {k: v for k, v in process_env.items() if k not in ("DEBUG", "SECRET_KEY")}
    result = _manage(env, "drf_create_token", "admin")
    _assert_one_line_failure(result, "Set SECRET_KEY (or DEBUG=1 for a generated development key).")


def test_command_process_exit_codes(process_env, tmp_path):
    csv_path = _csv(tmp_path, _rows("PROC", 3))
    # All four run side by side to keep the suite fast; none of them touches what another reads.
    procs = {
        "unknown": _spawn(process_env, "run_debate", "ZZZZ"),
        "bad_date": _spawn(process_env, "run_debate", "ACME", "--as-of", "2024-13-01"),
        "missing": _spawn(process_env, "import_bars", "/nonexistent/bars.csv"),
        "import": _spawn(process_env, "import_bars", str(csv_path)),
    }
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    _assert_one_line_failure(results["unknown"], "Unknown symbol 'ZZZZ'.")
    _assert_one_line_failure(results["bad_date"], "--as-of '2024-13-01' is not a date (YYYY-MM-DD).")
    _assert_one_line_failure(results["missing"], "/nonexistent/bars.csv: cannot read file")
    imported = results["import"]
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "Imported 3 bars (PROC 3)."
    assert imported.stderr == ""
