"""Table sizes: read from a database (read-only) or from a stats file exported from production.

PostgreSQL: ``pg_class.reltuples`` and relation/index sizes (a table never analysed has a bounded
count instead), the index count from ``pg_index``, each column's NULL fraction from ``pg_stats``;
MariaDB/MySQL: ``information_schema.tables``; SQLite: bounded ``COUNT(*)`` and
the indexes of ``sqlite_master``.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections

from ..exceptions import StatsError
from ..files import write_text_atomic

#: The format written. Format 1 (no ``indexes``, no ``null_fractions``) is still read.
STATS_FORMAT = 2
READ_FORMATS = (1, 2)
#: Counting stops here on SQLite (and on never-analysed PostgreSQL tables): "at least" this many.
COUNT_LIMIT = 10_000_000


@dataclass
class TableStats:
    rows: int | None
    table_bytes: int | None = None
    index_bytes: int | None = None
    #: True when ``rows`` was counted, False for the planner's estimate or a bounded count.
    exact: bool = False
    #: The number of indexes on the table (an UPDATE writes an entry in each); None: unknown.
    indexes: int | None = None
    #: Column name -> the fraction of its values that are NULL, 0 to 1 (PostgreSQL's
    #: ``pg_stats.null_frac``, as of the last ANALYZE); a column missing from it: unknown.
    null_fractions: dict[str, float] = field(default_factory=dict)


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

    def indexes(self, table: str | None) -> int | None:
        entry = self.tables.get(table or "")
        return entry.indexes if entry else None

    def null_fraction(self, table: str | None, column: str | None) -> float | None:
        """The fraction of ``column``'s values that are NULL in ``table``; None when unknown."""
        entry = self.tables.get(table or "")
        return entry.null_fractions.get(column or "") if entry else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATS_FORMAT,
            "vendor": self.vendor,
            "captured_at": self.captured_at,
            "tables": {name: _entry(entry) for name, entry in sorted(self.tables.items())},
        }


def _entry(entry: TableStats) -> dict[str, Any]:
    data = asdict(entry)
    data["null_fractions"] = dict(sorted(entry.null_fractions.items()))
    return data


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
        "SELECT c.relname, c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid), "
        "(SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(current_schemas(false))"
    )
    tables = {}
    for name, reltuples, table_bytes, index_bytes, indexes in cursor.fetchall():
        rows, exact = int(reltuples), False
        if rows < 0:  # never analysed (PostgreSQL 14+ says -1)
            rows, exact = _bounded_count(cursor, connection.ops.quote_name(name))
        tables[name] = TableStats(rows, int(table_bytes), int(index_bytes), exact, int(indexes))
    # A partitioned table has only the statistics of its whole hierarchy (inherited); an
    # ordinary one with children has both: its own rows' come last and win.
    cursor.execute(
        "SELECT tablename, attname, null_frac FROM pg_stats "
        "WHERE schemaname = ANY(current_schemas(false)) ORDER BY inherited DESC"
    )
    for table, column, null_frac in cursor.fetchall():
        if table in tables and null_frac is not None:
            # A real (float4): six decimals are all it holds.
            tables[table].null_fractions[column] = round(float(null_frac), 6)
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
    cursor.execute(
        "SELECT tbl_name, COUNT(*) FROM sqlite_master WHERE type = 'index' GROUP BY tbl_name"
    )
    indexes = {name: int(count) for name, count in cursor.fetchall()}
    for name in names:
        rows, exact = _bounded_count(cursor, connection.ops.quote_name(name))
        tables[name] = TableStats(rows, exact=exact, indexes=indexes.get(name, 0))
    return tables


def write_file(stats: Stats, path: Path) -> None:
    """Write ``stats`` to ``path`` atomically: a reader sees the old file or the new one."""
    write_text_atomic(Path(path), json.dumps(stats.to_dict(), indent=2) + "\n")


def from_file(path: Path) -> Stats:
    """Read a stats file written by ``manage.py exportstats``; every value is checked here, so
    a bad file stops a command before any capture work."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StatsError(f"The stats file {path} does not exist.") from None
    except IsADirectoryError:
        raise StatsError(
            f"The stats file {path} is a directory; give the file 'manage.py exportstats -o' wrote."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise StatsError(f"Cannot read the stats file {path}: {reason}.") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StatsError(f"The stats file {path} is not valid: {error}.") from None
    try:
        return _parse(data, f"file {path.name}")
    except ValueError as error:
        raise StatsError(f"The stats file {path} is not valid: {error}.") from None


_SIZE_KEYS = ("rows", "table_bytes", "index_bytes")


def _parse(data: Any, source: str) -> Stats:
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object, as 'manage.py exportstats' writes")
    file_format = data.get("format")
    if file_format not in READ_FORMATS or isinstance(file_format, bool):
        raise ValueError(
            f"unsupported format {file_format!r} (expected "
            f"{' or '.join(str(f) for f in READ_FORMATS)})"
        )
    keys = {*_SIZE_KEYS, "exact", *(("indexes", "null_fractions") if file_format >= 2 else ())}
    vendor = data.get("vendor")
    if vendor is not None and not isinstance(vendor, str):
        raise ValueError(f"'vendor' must be a vendor name such as \"postgresql\", not {vendor!r}")
    captured_at = data.get("captured_at")
    if captured_at is not None and not isinstance(captured_at, str):
        raise ValueError(f"'captured_at' must be a date as text, not {captured_at!r}")
    tables = data.get("tables")
    if not isinstance(tables, dict):
        raise ValueError(
            "'tables' must map each table name to its sizes, e.g. "
            '{"shop_order": {"rows": 3000000}}'
        )
    parsed = {}
    for name, entry in tables.items():
        if not isinstance(entry, dict):
            raise ValueError(f"table '{name}' must have an object of sizes, not {entry!r}")
        unknown = sorted(set(entry) - keys)
        if unknown:
            raise ValueError(
                f"table '{name}' has unknown key(s) {', '.join(unknown)}"
                + (" (format 1 has no indexes and null_fractions)" if file_format == 1 else "")
            )
        if "rows" not in entry:
            raise ValueError(f"table '{name}' has no 'rows'")
        for key in (*_SIZE_KEYS, "indexes"):
            value = entry.get(key)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise ValueError(
                    f"'{key}' of table '{name}' must be a whole number, zero or more "
                    f"(or null when unknown), not {value!r}"
                )
        exact = entry.get("exact", False)
        if not isinstance(exact, bool):
            raise ValueError(f"'exact' of table '{name}' must be true or false, not {exact!r}")
        parsed[name] = TableStats(
            entry["rows"],
            entry.get("table_bytes"),
            entry.get("index_bytes"),
            exact,
            entry.get("indexes"),
            _null_fractions(name, entry.get("null_fractions")),
        )
    return Stats(tables=parsed, source=source, vendor=vendor, captured_at=captured_at)


def _null_fractions(table: str, value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(
            f"'null_fractions' of table '{table}' must map each column name to the fraction of "
            f'its values that are NULL, e.g. {{"email": 0.1}}, not {value!r}'
        )
    fractions = {}
    for column, fraction in value.items():
        if (
            not isinstance(fraction, int | float)
            or isinstance(fraction, bool)
            or not 0 <= fraction <= 1
        ):
            raise ValueError(
                f"the NULL fraction of column '{column}' of table '{table}' must be a number "
                f"from 0 to 1, not {fraction!r}"
            )
        fractions[column] = float(fraction)
    return fractions


def warnings_for(stats: Stats, vendor: str) -> list[str]:
    """What a user should know before sizes from ``stats`` are used for SQL captured on
    ``vendor``. Row counts mean the same on every vendor, so they are used all the same."""
    found = []
    if stats.source != "none" and not stats.tables:
        found.append(f"The table sizes from {stats.source} list no table: sizes stay unknown.")
    if stats.vendor and stats.vendor != vendor:
        found.append(
            f"The table sizes from {stats.source} were read on {stats.vendor}, but the SQL is "
            f"captured on {vendor}: the row counts are used, but the findings and durations are "
            f"those of {vendor}'s SQL. Capture with --database on a {stats.vendor} database to "
            f"see what {stats.vendor} runs."
        )
    return found
