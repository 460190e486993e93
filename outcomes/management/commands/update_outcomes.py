"""Settle the outcomes that became judgeable (also runs every 10 minutes as a django-q2 schedule)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from arena_project.errors import ArenaError
from outcomes.services import outcomes_preview, outcomes_update


class Command(BaseCommand):
    help = (
        "Open decisions that missed their signal, re-enqueue lost submissions, sync open orders, "
        "then settle every outcome whose horizon has passed. --dry-run only reports."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would settle; write nothing.")
        parser.add_argument(
            "--backfill-days",
            type=int,
            default=1,
            help="Open decisions from the last N days that have no outcome yet (default 1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["backfill_days"] < 0:
            raise CommandError("--backfill-days must be 0 or more.")
        if options["dry_run"]:
            self._preview()
            return
        since = timezone.now() - dt.timedelta(days=options["backfill_days"])
        try:
            summary = outcomes_update(backfill_since=since)
        except ArenaError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(str(summary))

    def _preview(self) -> None:
        rows = outcomes_preview()
        ready = [(o, v) for o, v in rows if v is not None]
        for outcome, verdict in ready:
            assert verdict is not None  # noqa: S101 - filtered above
            session, score = outcome.consensus.session, verdict.score
            self.stdout.write(
                f"decision {outcome.consensus_id} {session.symbol} {session.as_of} "
                f"{outcome.consensus.action}: {verdict.status} {score.pnl_amount} "
                f"({score.pnl_return:+.4%}) — {verdict.rule}"
            )
        self.stdout.write(
            f"Dry run: {len(ready)} of {len(rows)} pending outcome(s) would settle; nothing written."
        )
