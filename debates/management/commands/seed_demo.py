"""Load the demo: the rules profiles, the default panel and the bundled market data. Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from agents.services import default_panel_seed
from debates.market.services import bundled_bars_load


class Command(BaseCommand):
    help = "Seed the demo profiles, the default panel and the bundled (synthetic) market data. Safe to rerun."

    def handle(self, *args: Any, **options: Any) -> None:
        panel = default_panel_seed()
        summary = bundled_bars_load()
        symbols = ", ".join(sorted(summary.symbols))
        self.stdout.write(f"Panel {panel.name!r} ready with {panel.seats.count()} seats.")
        self.stdout.write(f"Loaded {summary.rows} synthetic daily bars for {symbols}.")
