"""Run a competition between trader profiles: a backtest in this process, or a scheduled paper run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from arena_project.errors import ArenaError
from competition.models import CompetitionRun, RunMode, RunStatus
from competition.reporting import score_table, validation_message
from competition.services.engine import competition_backtest_advance
from competition.services.runs import competition_run_claim, competition_run_create


def _date(option: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not a date (YYYY-MM-DD).") from None


def _names(option: str, value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise CommandError(f"{option} needs at least one name (comma-separated).")
    return names


class Command(BaseCommand):
    help = (
        "Run a competition between trader profiles (plus the buy-and-hold and random baselines): a "
        "backtest steps day by day here with a progress bar and prints the score table; a paper run "
        "is scheduled for the workers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--traders", required=True, help="Trader profile names, comma-separated.")
        parser.add_argument("--symbols", required=True, help="Symbols, comma-separated.")
        parser.add_argument("--start", help="Backtest: first day (YYYY-MM-DD).")
        parser.add_argument("--end", help="Backtest: last day; paper: stop after this day.")
        parser.add_argument("--mode", choices=[m.value for m in RunMode], default=RunMode.BACKTEST)
        parser.add_argument("--tick-minutes", type=int, default=1440, help="Paper: minutes between ticks.")
        parser.add_argument(
            "--budget", help="LLM budget in USD (default ARENA_COMPETITION_DEFAULT_BUDGET_USD)."
        )
        parser.add_argument("--confirm", action="store_true", help="Run even if the estimate is over budget.")
        parser.add_argument("--seed", type=int, help="Seed of the random baseline and the bootstrap.")
        parser.add_argument("--name", default="", help="A label for the run.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        budget = None
        if options["budget"] is not None:
            try:
                budget = Decimal(options["budget"])
            except InvalidOperation:
                raise CommandError(f"--budget {options['budget']!r} is not a number.") from None
            if not budget.is_finite() or budget < 0:
                raise CommandError("--budget must be a non-negative number.")
        start, end = _date("--start", options["start"]), _date("--end", options["end"])
        mode = options["mode"]
        if mode == RunMode.BACKTEST and (start is None or end is None):
            raise CommandError("A backtest needs --start and --end.")
        if start and end and start > end:
            raise CommandError(f"--start {start} is after --end {end}.")
        try:
            run = competition_run_create(
                traders=_names("--traders", options["traders"]),
                symbols=_names("--symbols", options["symbols"]),
                mode=mode,
                start=start,
                end=end,
                tick_minutes=options["tick_minutes"] if mode == RunMode.PAPER else None,
                budget_usd=budget,
                confirm=options["confirm"],
                seed=options["seed"],
                name=options["name"],
                enqueue=mode == RunMode.PAPER,
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        except ArenaError as exc:
            raise CommandError(exc.message) from exc
        estimate = "unknown" if run.cost_estimate_usd is None else f"${run.cost_estimate_usd}"
        self.stdout.write(
            f"Run #{run.pk}: {len(run.symbols)} symbol(s), {run.entries.count()} entries (2 are baselines); "
            f"estimated LLM cost {estimate} for {run.cost_estimate.get('debates', 0)} debates"
            + (f", budget ${run.budget_usd}" if run.budget_usd is not None else "")
        )
        if mode == RunMode.PAPER:
            self.stdout.write(f"Paper run scheduled every {run.tick_minutes} minute(s); the workers tick it.")
            return
        self._backtest(run, progress=not options["no_progress"])

    def _backtest(self, run: CompetitionRun, *, progress: bool) -> None:
        if not competition_run_claim(run_id=run.pk):
            raise CommandError(f"Run #{run.pk} is already being run elsewhere.")
        bar = tqdm(total=None, unit="day", disable=not progress, desc=f"run #{run.pk}", dynamic_ncols=True)

        def on_day(current: CompetitionRun) -> None:
            bar.total = current.days_total
            bar.n = current.days_done
            bar.set_postfix_str(f"{current.last_date} · LLM ${current.cost_usd:.4f}", refresh=False)
            bar.refresh()

        try:
            competition_backtest_advance(run_id=run.pk, on_day=on_day)
        except Exception as exc:
            raise CommandError(f"Run #{run.pk} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            bar.close()
        run.refresh_from_db()
        if run.status != RunStatus.COMPLETED:
            raise CommandError(f"Run #{run.pk} ended {run.status}: {run.error or 'stopped'}")
        self.stdout.write("")
        for line in score_table(run):
            self.stdout.write(line)
        self.stdout.write(f"\nLLM spend ${run.cost_usd}; details: GET /api/competition/runs/{run.pk}")
