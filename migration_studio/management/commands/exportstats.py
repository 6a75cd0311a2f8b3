"""Export table sizes of a database (read-only) for analyses on another machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ...exceptions import StatsError
from ...risk.stats import STATS_FORMAT, from_database, write_file
from ..interrupts import InterruptibleCommand


class Command(InterruptibleCommand, BaseCommand):
    help = (
        "Writes the row counts and sizes of every table of a database (it only reads) to a JSON "
        "file that makesafemigration --stats-file can use where production is out of reach."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='The database to read. Defaults to the "default" database.',
        )
        parser.add_argument("-o", "--output", help="The file to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            stats = from_database(options["database"])
        except StatsError as error:
            raise CommandError(str(error)) from None
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
