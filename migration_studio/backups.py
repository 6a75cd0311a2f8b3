"""The backup tables of ``makesafemigration --backup`` in a database: which there are, how old,
and dropping those no longer needed."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .sql.text import BACKED_UP_AT, BACKUP_TABLE_PREFIX, quote_identifier


@dataclass
class Backup:
    table: str
    rows: int
    backed_up_at: datetime.datetime | None

    def age(self, now: datetime.datetime) -> datetime.timedelta | None:
        return now - self.backed_up_at if self.backed_up_at else None


def backups(alias: str) -> list[Backup]:
    """Every backup table of database ``alias`` (read-only), oldest first."""
    connection = connections[alias]
    found = []
    with connection.cursor() as cursor:
        names = [
            n
            for n in connection.introspection.table_names(cursor)
            if n.startswith(BACKUP_TABLE_PREFIX)
        ]
        for name in names:
            table = quote_identifier(name, connection.vendor)
            column = quote_identifier(BACKED_UP_AT, connection.vendor)
            cursor.execute(f"SELECT COUNT(*), MIN({column}) FROM {table}")
            rows, when = cursor.fetchone()
            found.append(Backup(name, rows, _aware(when)))
    return sorted(found, key=lambda b: (b.backed_up_at is None, b.backed_up_at or 0, b.table))


def _aware(value: object) -> datetime.datetime | None:
    """SQLite gives the time as text, in UTC; PostgreSQL as a datetime."""
    when = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(when, datetime.datetime):
        return None
    return when if timezone.is_aware(when) else when.replace(tzinfo=datetime.UTC)


def purge(alias: str, tables: list[str]) -> None:
    connection = connections[alias]
    with connection.cursor() as cursor:
        for name in tables:
            cursor.execute(f"DROP TABLE {quote_identifier(name, connection.vendor)}")
