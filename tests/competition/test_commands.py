"""run_competition: one readable line and a non-zero exit on bad arguments; the score table on success."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from competition.models import CompetitionRun, RunStatus
from competition.services.traders import trader_profile_create

pytestmark = pytest.mark.django_db

GOOD = ["--traders", "steady,bold", "--symbols", "ACME", "--start", "2024-03-04", "--end", "2024-03-12"]


def _run(*args: str) -> str:
    out = StringIO()
    call_command("run_competition", *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_run_competition_prints_the_ranked_score_table(traders):
    output = _run(*GOOD, "--seed", "3")

    run = CompetitionRun.objects.get()
    assert run.status == RunStatus.COMPLETED and run.seed == 3
    assert "rank  entry" in output and "Baseline: buy and hold" in output and "Baseline: random" in output
    table = [line for line in output.splitlines() if line.strip()[:1].isdigit()]
    assert [line.split()[0].rstrip("~") for line in table] == ["1", "2", "3", "4"]
    assert f"/api/competition/runs/{run.pk}" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "--traders",
                "steady,ghost",
                "--symbols",
                "ACME",
                "--start",
                "2024-03-04",
                "--end",
                "2024-03-12",
            ],
            "traders: Unknown trader(s): ghost.",
        ),
        (
            ["--traders", "steady", "--symbols", "ACME,ZZZ", "--start", "2024-03-04", "--end", "2024-03-12"],
            "symbols: Unknown symbol(s): ZZZ.",
        ),
        (
            ["--traders", "steady", "--symbols", "ACME", "--start", "2024-03-40", "--end", "2024-03-12"],
            "--start '2024-03-40' is not a date (YYYY-MM-DD).",
        ),
        (
            ["--traders", "steady", "--symbols", "ACME", "--start", "2024-03-12", "--end", "2024-03-04"],
            "--start 2024-03-12 is after --end 2024-03-04.",
        ),
        (
            ["--traders", "steady", "--symbols", "ACME", "--start", "2024-03-04"],
            "A backtest needs --start and --end.",
        ),
        (
            ["--traders", ",", "--symbols", "ACME", "--start", "2024-03-04", "--end", "2024-03-12"],
            "--traders needs at least one name (comma-separated).",
        ),
        ([*GOOD, "--budget", "lots"], "--budget 'lots' is not a number."),
        ([*GOOD, "--budget", "-1"], "--budget must be a non-negative number."),
    ],
)
def test_bad_arguments_fail_with_one_readable_line(traders, args, message):
    with pytest.raises(CommandError) as exc_info:
        _run(*args)
    assert str(exc_info.value) == message
    assert not CompetitionRun.objects.exists()


def test_over_budget_without_confirm_fails(arena, priced_panel, traders):
    trader_profile_create(name="gpt", panel=priced_panel)
    args = [
        "--traders",
        "gpt",
        "--symbols",
        "ACME",
        "--start",
        "2024-03-04",
        "--end",
        "2024-03-22",
        "--budget",
        "0.01",
    ]

    with pytest.raises(CommandError, match=r"Estimated cost \$0\.\d+ exceeds the budget of \$0\.01; confirm"):
        _run(*args)
    assert not CompetitionRun.objects.exists()


def test_exit_status_is_non_zero_on_bad_arguments():
    """The real process exit status, as a shell sees it (the date is refused before any query)."""
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "run_competition",
            "--traders",
            "x",
            "--symbols",
            "ACME",
            "--start",
            "nope",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBUG": "1"},
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip().splitlines()[-1] == "CommandError: --start 'nope' is not a date (YYYY-MM-DD)."
    )
