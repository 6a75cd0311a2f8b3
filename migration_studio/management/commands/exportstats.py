"""Export table sizes of a database (read-only) for analyses on another machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...risk.stats import STATS_FORMAT, from_database, write_file
from ..base import StudioCommand
from ..options import add_database


class Command(StudioCommand, BaseCommand):
    help = (
        "Writes the row counts, sizes and index counts of every table of a database, and the "
        "NULL fraction of each column (PostgreSQL), to a JSON file that makesafemigration "
        "--stats-file can use where production is out of reach. It only reads."
    )

    def add_arguments(self, parser: Any) -> None:
        add_database(parser, help='The database to read. Defaults to the "default" database.')
        parser.add_argument("-o", "--output", help="The file to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        stats = from_database(options["database"])
        if options["output"]:
            path = Path(options["output"])
            try:
                write_file(stats, path)
            except OSError as error:
                raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
            if options["verbosity"] >= 1:
                self.stderr.write(
                    f"Wrote the sizes of {len(stats.tables)} table(s) to {path} "
                    f"(format {STATS_FORMAT})."
                )
        else:
            self.stdout.write(json.dumps(stats.to_dict(), indent=2))
