"""Table sizes: read from a database (read-only) or from a stats file exported from production.

PostgreSQL: ``pg_class.reltuples`` and relation/index sizes (a table never analysed has a bounded
count instead); MariaDB/MySQL: ``information_schema.tables``; SQLite: bounded ``COUNT(*)``.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections

STATS_FORMAT = 1
#: Counting stops here on SQLite (and on never-analysed PostgreSQL tables): "at least" this many.
COUNT_LIMIT = 10_000_000


class StatsError(Exception):
    """Stats could not be read; the message is for the user."""


@dataclass
class TableStats:
    rows: int | None
    table_bytes: int | None = None
    index_bytes: int | None = None
    #: True when ``rows`` was counted, False for the planner's estimate or a bounded count.
    exact: bool = False


@dataclass
class Stats:
    tables: dict[str, TableStats] = field(default_factory=dict)
    #: Where the figures come from, for the report: "database 'replica'", a file name, or "none".
    source: str = "none"
    vendor: str | None = None
    captured_at: str | None = None

    def rows(self, table: str | None) -> int | None:
        entry = self.tables.get(table or "")
        return entry.rows if entry else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATS_FORMAT,
            "vendor": self.vendor,
            "captured_at": self.captured_at,
            "tables": {name: asdict(entry) for name, entry in sorted(self.tables.items())},
        }


def from_database(alias: str) -> Stats:
    """Read the sizes of every table of ``alias``. Only reads: no statement writes anything."""
    try:
        connection = connections[alias]
    except Exception:
        raise StatsError(f"There is no database '{alias}' in DATABASES.") from None
    reader = {"postgresql": _postgresql, "mysql": _mysql, "sqlite": _sqlite}.get(connection.vendor)
    if reader is None:
        raise StatsError(f"Cannot read table statistics from {connection.vendor}.")
    try:
        with connection.cursor() as cursor:
            tables = reader(connection, cursor)
    except DatabaseError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise StatsError(f"Cannot read table statistics from database '{alias}': {first}") from None
    return Stats(
        tables=tables,
        source=f"database '{alias}'",
        vendor=connection.vendor,
        captured_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )


def _bounded_count(cursor: Any, quoted_table: str) -> tuple[int, bool]:
    cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {quoted_table} LIMIT {COUNT_LIMIT}) t")
    count = int(cursor.fetchone()[0])
    return count, count < COUNT_LIMIT


def _postgresql(connection: Any, cursor: Any) -> dict[str, TableStats]:
    cursor.execute(
        "SELECT c.relname, c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(current_schemas(false))"
    )
    tables = {}
    for name, reltuples, table_bytes, index_bytes in cursor.fetchall():
        rows, exact = int(reltuples), False
        if rows < 0:  # never analysed (PostgreSQL 14+ says -1)
            rows, exact = _bounded_count(cursor, connection.ops.quote_name(name))
        tables[name] = TableStats(rows, int(table_bytes), int(index_bytes), exact)
    return tables


def _mysql(connection: Any, cursor: Any) -> dict[str, TableStats]:
    cursor.execute(
        "SELECT table_name, table_rows, data_length, index_length FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
    )
    return {
        name: TableStats(int(rows or 0), int(data or 0), int(index or 0))
        for name, rows, data, index in cursor.fetchall()
    }


def _sqlite(connection: Any, cursor: Any) -> dict[str, TableStats]:
    names = connection.introspection.table_names(cursor)
    tables = {}
    for name in names:
        rows, exact = _bounded_count(cursor, connection.ops.quote_name(name))
        tables[name] = TableStats(rows, exact=exact)
    return tables


def write_file(stats: Stats, path: Path) -> None:
    path.write_text(json.dumps(stats.to_dict(), indent=2) + "\n", encoding="utf-8")


def from_file(path: Path) -> Stats:
    """Read a stats file written by ``manage.py exportstats``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != STATS_FORMAT:
            raise ValueError(f"unsupported format {data.get('format')!r}")
        tables = {name: TableStats(**entry) for name, entry in data["tables"].items()}
    except FileNotFoundError:
        raise StatsError(f"The stats file {path} does not exist.") from None
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise StatsError(f"The stats file {path} is not valid: {error}.") from None
    return Stats(
        tables=tables,
        source=f"file {Path(path).name}",
        vendor=data.get("vendor"),
        captured_at=data.get("captured_at"),
    )
