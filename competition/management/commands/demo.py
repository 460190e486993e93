"""The demo's main job: seed, make an admin with a fresh password, run a few debates, summarise."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from debates.models import DebateStatus
from debates.selectors import instrument_list
from debates.services import debate_run_now


class Command(BaseCommand):
    help = "Seed the demo data, create an admin user (password printed), run a debate per symbol."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--debates", type=int, default=6, help="How many symbols to debate (default 6).")

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
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin user: {options['username']}   password: {password}   (new for this run)"
            )
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
