"""Bring the leaderboard's daily rollup up to date now (the schedule does it every few minutes)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from competition.services.rollup import leaderboard_rollup_refresh


class Command(BaseCommand):
    help = "Refresh the leaderboard rollup (days changed since the last refresh; --full: every day)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--full", action="store_true", help="Rebuild every day (after importing or backfilling history)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Leaderboard rollup: {leaderboard_rollup_refresh(full=options['full'])}.")
