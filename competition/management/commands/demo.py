"""The demo's main job: seed, make an admin with a fresh password, run a few debates, a short backtest
competition between three traders, and summarise."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from competition.reporting import score_table
from competition.selectors import LeaderboardQuery, leaderboard_rows
from competition.services.demo import DEMO_TRADERS, demo_competition_run, demo_traders_seed
from competition.services.rollup import leaderboard_rollup_refresh
from debates.models import DebateStatus
from debates.selectors import instrument_list
from debates.services import debate_run_now


class Command(BaseCommand):
    help = "Seed the demo data, create an admin user (password printed), run a debate per symbol."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--debates", type=int, default=6, help="How many symbols to debate (default 6).")
        parser.add_argument(
            "--no-competition", action="store_true", help="Skip the short backtest competition."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("seed_demo", stdout=self.stdout)
        password = self._admin(options["username"])
        self.stdout.write("")
        self.stdout.write(
            f"{'symbol':<8} {'as of':<10} {'status':<10} {'action':<6} {'size':>5} {'conf':>5} {'agree':>6}"
        )
        for instrument in list(instrument_list())[: options["debates"]]:
            session = debate_run_now(symbol=instrument.symbol)
            consensus = getattr(session, "consensus", None)
            if session.status == DebateStatus.COMPLETED and consensus is not None:
                self.stdout.write(
                    f"{session.symbol:<8} {session.as_of!s:<10} {session.status:<10} "
                    f"{consensus.action:<6} {consensus.size:>5.2f} {consensus.confidence:>5.2f} "
                    f"{consensus.agreement_rate:>6.0%}"
                )
            else:
                self.stdout.write(
                    f"{session.symbol:<8} {session.as_of!s:<10} {session.status:<10} {session.error}"
                )
        if not options["no_competition"]:
            self._competition()
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin user: {options['username']}   password: {password}   (new for this run)"
            )
        )

    def _competition(self) -> None:
        """A short backtest between the three demo traders (and the two baselines), its score table,
        and the top of the agents' leaderboard."""
        demo_traders_seed()
        self.stdout.write("")
        self.stdout.write(
            f"Backtest competition: {', '.join(name for name, *_ in DEMO_TRADERS)} (plus buy-and-hold and "
            "random baselines) on ACME and DUNE, 2024-03-01..2024-04-12 (synthetic data)…"
        )
        started = dt.datetime.now(tz=dt.UTC)
        run = demo_competition_run()
        seconds = (dt.datetime.now(tz=dt.UTC) - started).total_seconds()
        self.stdout.write(f"Run #{run.pk} {run.status} in {seconds:.0f} s; LLM spend ${run.cost_usd}.")
        for line in score_table(run):
            self.stdout.write(line)
        leaderboard_rollup_refresh()  # the board is read from the rollup: bring it up to the run's decisions
        board = leaderboard_rows(query=LeaderboardQuery(window="24h"))
        self.stdout.write("")
        self.stdout.write("Leaderboard (agent profiles, last 24 h; ~ = not distinguishable from baseline):")
        for row in board.rows[:6]:
            hit = row.hit_rate
            rate = (
                "n/a" if hit.value is None else f"{hit.value:.0%} [{hit.low:.0%}, {hit.high:.0%}] of {hit.n}"
            )
            mark = "~" if row.not_distinguishable_from_baseline else ""
            self.stdout.write(
                f"  {row.rank}{mark:<2}{row.name:<28} hit rate {rate}, {row.decisions} decisions"
            )
        self.stdout.write(
            f"Same run: GET /api/competition/runs/{run.pk} and the admin; "
            "leaderboard: GET /api/admin/arena/leaderboard and Admin > Competition > Leaderboard."
        )

    def _admin(self, username: str) -> str:
        """Create the admin, or give the existing one a fresh password: never a fixed, guessable one."""
        password = secrets.token_urlsafe(12)
        user, _created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password
