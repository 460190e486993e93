"""Load the demo: the rules profiles, the default panel and the bundled market data. Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from agents.panel_services import escalation_demo_panel_seed
from agents.services import default_panel_seed
from debates.market.services import bundled_bars_load


class Command(BaseCommand):
    help = "Seed the demo profiles, the default panel and the bundled (synthetic) market data. Safe to rerun."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--escalation-panel",
            action="store_true",
            help="Also seed 'rules-escalation', a rules panel that escalates (docs/coordinator.md).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        panel = default_panel_seed()
        if options["escalation_panel"]:
            escalating = escalation_demo_panel_seed()
            self.stdout.write(f"Panel {escalating.name!r} (escalates on low agreement) ready.")
        summary = bundled_bars_load()
        symbols = ", ".join(sorted(summary.symbols))
        self.stdout.write(f"Panel {panel.name!r} ready with {panel.seats.count()} seats.")
        self.stdout.write(f"Loaded {summary.rows} synthetic daily bars for {symbols}.")
