"""Re-run a recorded debate on exactly its recorded context with another panel or policy."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from arena_project.errors import ArenaError
from debates.replay import ReplayComparison, ReplaySide, debate_replay, panel_overrides_parse


def _money(value: Any) -> str:
    return f"${value:.6f}"


def _decision(side: ReplaySide) -> str:
    if side.action is None:
        return f"none ({side.status})"
    return f"{side.action.upper()} size {side.size:.2f}"


def _escalated(side: ReplaySide) -> str:
    if not side.escalated:
        return "no" + (f" (fired: {', '.join(side.triggers_fired)})" if side.triggers_fired else "")
    stages = f", {side.rounds} rounds" if side.rounds > 2 else ""
    return f"yes ({', '.join(side.triggers_fired) or 'no trigger recorded'}{stages})"


class Command(BaseCommand):
    help = (
        "Replay debate ID on its recorded tool results (no market data is fetched) with another panel "
        "and/or policy overrides, and print both decisions and costs side by side. Nothing is saved."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session_id", type=int, metavar="ID")
        parser.add_argument("--panel", help="Panel to replay with (default: the debate's own panel).")
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="Override a policy field for this replay, e.g. --set agreement_threshold=0.8 "
            "--set escalate_on_low_agreement=true (repeatable).",
        )
        parser.add_argument("--json", action="store_true", help="Print the comparison as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            overrides = panel_overrides_parse(options["overrides"])
            comparison = debate_replay(
                session_id=options["session_id"], panel=options["panel"], overrides=overrides
            )
        except ArenaError as exc:
            fields = exc.extra.get("fields") if exc.extra else None
            detail = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in fields.items()) if fields else ""
            raise CommandError(
                detail if detail and exc.message == "Invalid override." else exc.message
            ) from exc
        if options["json"]:
            self.stdout.write(json.dumps(self._as_json(comparison), indent=2))
        else:
            self._print(comparison)

    def _as_json(self, comparison: ReplayComparison) -> dict[str, Any]:
        return {
            "session_id": comparison.session_id,
            "original": comparison.original.as_dict(),
            "replay": comparison.replay.as_dict(),
            "same_decision": comparison.same_decision,
            "prompt_versions_differ": comparison.prompt_versions_differ,
        }

    def _print(self, comparison: ReplayComparison) -> None:
        old, new = comparison.original, comparison.replay
        context = comparison.outcome.context
        where = f" ({context.symbol} as of {context.as_of})" if context else ""
        self.stdout.write(
            f"Replay of debate #{comparison.session_id}{where} on its recorded context; "
            "no market data fetched, nothing saved."
        )
        rows: list[tuple[str, str, str]] = [
            ("", old.label, new.label),
            ("panel", old.panel, new.panel),
            ("status", old.status, new.status),
            ("decision", _decision(old), _decision(new)),
            ("confidence", _num(old.confidence), _num(new.confidence)),
            ("agreement", _num(old.agreement_rate), _num(new.agreement_rate)),
            ("escalated", _escalated(old), _escalated(new)),
            ("cost", _money(old.cost_usd), _money(new.cost_usd)),
            ("agent calls", str(old.calls), str(new.calls)),
        ]
        for role in sorted(old.stances.keys() | new.stances.keys()):
            rows.append((role, old.stances.get(role, "—"), new.stances.get(role, "—")))
        if old.error or new.error:
            rows.append(("error", old.error or "—", new.error or "—"))
        width = max(len(r[1]) for r in rows) + 2
        for label, left, right in rows:
            self.stdout.write(f"{label:<20} {left:<{width}} {right}")
        self.stdout.write(f"Same decision: {'yes' if comparison.same_decision else 'NO'}")
        if comparison.prompt_versions_differ:
            self.stdout.write(
                "Note: prompt versions changed since the recording for "
                + ", ".join(comparison.prompt_versions_differ)
                + "; the replay is not like-for-like."
            )


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
