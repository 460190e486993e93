"""Import a user's own daily OHLCV CSV: all rows or none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from debates.market.csv_import import BarsCsvError, parse_bars_csv
from debates.market.services import bars_import


class Command(BaseCommand):
    help = (
        "Import daily bars from a CSV with columns symbol,date,open,high,low,close,volume (all or nothing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="Path to the CSV file.")
        parser.add_argument("--source", default="csv", help="Label stored on every imported bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            with path.open(encoding="utf-8-sig", newline="") as stream:
                rows = parse_bars_csv(stream)
        except OSError as exc:
            raise CommandError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path}: not a UTF-8 text file") from exc
        except BarsCsvError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        summary = bars_import(rows=rows, source=options["source"])
        per_symbol = ", ".join(f"{s} {n}" for s, n in sorted(summary.symbols.items()))
        self.stdout.write(f"Imported {summary.rows} bars ({per_symbol}).")
