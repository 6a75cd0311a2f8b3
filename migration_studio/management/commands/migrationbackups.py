"""List the backup tables of ``makesafemigration --backup``, and drop the old ones."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from ...backups import backups, purge
from ..base import StudioCommand
from ..options import add_database


class Command(StudioCommand, BaseCommand):
    help = (
        "Lists the backup tables makesafemigration --backup made (ms_backup_*): rows and age. "
        "With --purge --older-than DAYS, drops those older than DAYS days (and empty ones); "
        "without --purge it only reads."
    )

    def add_arguments(self, parser: Any) -> None:
        add_database(parser, help='The database to look at. Defaults to the "default" database.')
        parser.add_argument(
            "--older-than",
            type=float,
            metavar="DAYS",
            help="With --purge: drop the backups made more than DAYS days ago.",
        )
        parser.add_argument(
            "--purge",
            action="store_true",
            help="Drop the backups older than --older-than (the only option that writes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if options["purge"] and days is None:
            raise CommandError("--purge needs --older-than DAYS: which backups to drop.")
        if days is not None and days < 0:
            raise CommandError("--older-than must be zero or more days.")
        alias = options["database"]
        try:
            found = backups(alias)
        except DatabaseError as error:
            raise CommandError(f"Cannot read database '{alias}': {error}".strip()) from None
        now = timezone.now()
        if not found:
            self.stdout.write(f"No backup table in database '{alias}'.")
            return
        old = [
            b
            for b in found
            if days is not None and (b.rows == 0 or (b.age(now) or now - now).days >= days)
        ]
        for backup in found:
            age = backup.age(now)
            when = (
                f"backed up {backup.backed_up_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
                f"{age.total_seconds() / 86400:.1f} day(s) ago"
                if backup.backed_up_at and age is not None
                else "empty"
            )
            mark = "  (older)" if backup in old else ""
            self.stdout.write(f"{backup.table}  {backup.rows} row(s)  {when}{mark}")
        if not options["purge"]:
            if old:
                self.stdout.write(
                    f"{len(old)} backup(s) older than {days:g} day(s); drop them with --purge."
                )
            return
        try:
            purge(alias, [b.table for b in old])
        except DatabaseError as error:
            raise CommandError(f"Cannot drop the backups: {error}".strip()) from None
        self.stdout.write(f"Dropped {len(old)} backup table(s) older than {days:g} day(s).")


def _older(backup: Any, now: Any, days: float) -> bool:
    """Made more than ``days`` days ago, or empty (nothing in it to keep)."""
    age = backup.age(now)
    return backup.rows == 0 or (age is not None and age.total_seconds() >= days * 86400)
