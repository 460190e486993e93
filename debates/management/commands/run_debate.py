"""Run one debate in this process and print the panel's answers and the consensus."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from arena_project.errors import ArenaError
from debates.api.serializers import DebateSessionDetailOutputSerializer
from debates.models import DebateSession, DebateStatus
from debates.selectors import debate_session_get
from debates.services import debate_run_now


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of {value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Run a debate on SYMBOL now (in-process) and print the analysts' answers and the consensus."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbol")
        parser.add_argument("--as-of", dest="as_of", help="Debate as of this date (default: last bar).")
        parser.add_argument("--panel", help="Panel name (default: the default panel).")
        parser.add_argument(
            "--json", action="store_true", help="Print the whole session as the API returns it."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = _date(options["as_of"]) if options["as_of"] else None
        try:
            session = debate_run_now(symbol=options["symbol"], as_of=as_of, panel=options["panel"])
        except ArenaError as exc:
            raise CommandError(exc.message) from exc
        session = debate_session_get(session_id=session.pk)
        if options["json"]:
            data = DebateSessionDetailOutputSerializer(session).data
            self.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, indent=2))
        else:
            self._print_table(session)
        if session.status != DebateStatus.COMPLETED:
            raise CommandError(f"Debate {session.pk} {session.status}: {session.error}")

    def _print_table(self, session: DebateSession) -> None:
        self.stdout.write(
            f"Debate #{session.pk} on {session.symbol} as of {session.as_of} "
            f"(panel {session.panel.name}): {session.status}"
        )
        self.stdout.write(f"{'role':<20} {'stance':<8} {'conf':>5}  reasoning")
        for message in session.messages.all():
            if message.role == "judge":
                continue
            first_line = (message.reasoning or message.validation_error).splitlines()[0:1]
            confidence = f"{message.confidence:.2f}" if message.confidence is not None else "—"
            self.stdout.write(
                f"{message.role:<20} {message.stance or '—':<8} {confidence:>5}  "
                f"{(first_line[0] if first_line else '')[:100]}"
            )
        consensus = getattr(session, "consensus", None)
        if consensus is not None:
            self.stdout.write(
                f"Consensus: {consensus.action.upper()} size {consensus.size:.2f} confidence "
                f"{consensus.confidence:.2f} agreement {consensus.agreement_rate:.0%} — {consensus.rationale}"
            )
        self._print_calls(session)
        unknown = (
            f" (+{session.unknown_cost_calls} call(s) of unknown cost)" if session.unknown_cost_calls else ""
        )
        self.stdout.write(f"Cost: ${session.total_cost_usd:.6f}{unknown}")

    def _print_calls(self, session: DebateSession) -> None:
        """The ledger: one line per attempt (retries, fallbacks, repairs), with tokens, cost, latency."""
        calls = [call for message in session.messages.all() for call in message.llm_calls.all()]
        if not calls:
            return
        self.stdout.write(
            f"{'role':<20} {'#':>2} {'purpose':<10} {'profile':<24} {'status':<15} "
            f"{'in':>7} {'out':>6} {'cost $':>11} {'ms':>6}"
        )
        for call in calls:
            cost = "unknown" if call.cost_usd is None else f"{call.cost_usd:.6f}"
            tokens_in = "—" if call.input_tokens is None else call.input_tokens
            tokens_out = "—" if call.output_tokens is None else call.output_tokens
            self.stdout.write(
                f"{call.role:<20} {call.attempt:>2} {call.purpose:<10} {call.profile.name[:24]:<24} "
                f"{call.status:<15} {tokens_in:>7} {tokens_out:>6} {cost:>11} {call.latency_ms:>6}"
            )
