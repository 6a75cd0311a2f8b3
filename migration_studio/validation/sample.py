"""Copy a sample of real rows into a scratch database, so checks and data steps meet real data.

Up to N rows per table are read from the source database inside a read-only transaction (the
source is never written), in foreign-key order: a row is kept only when every row it references
was copied, so the scratch database's existing constraints hold. PostgreSQL targets are filled
with COPY, others with batched INSERTs; sequences are moved past the copied keys.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

SKIPPED_TABLES = {"django_migrations"}
BATCH = 1000


@dataclass
class SampleResult:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


@contextlib.contextmanager
def read_only(alias: str) -> Iterator[Any]:
    """A cursor on ``alias`` inside a transaction the server itself makes read-only."""
    connection = connections[alias]
    if connection.vendor == "mysql":  # applies to the next transaction
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET TRANSACTION READ ONLY")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        try:
            yield cursor
        finally:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA query_only = OFF")
            transaction.set_rollback(True, using=alias)


def _order(tables: list[str], relations: dict[str, dict[str, tuple[str, str]]]) -> list[str]:
    """Tables so that referenced ones come first (cycles broken in name order)."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(table: str) -> None:
        if table in ordered or table in visiting:
            return
        visiting.add(table)
        for _, target in sorted(relations.get(table, {}).values()):
            if target != table and target in tables:
                visit(target)
        visiting.discard(table)
        ordered.append(table)

    for table in sorted(tables):
        visit(table)
    return ordered


def copy_sample(source_alias: str, target: BaseDatabaseWrapper, rows: int) -> SampleResult:
    """Copy up to ``rows`` rows of every table the source and the target share."""
    started = time.perf_counter()
    result = SampleResult()
    source = connections[source_alias]
    with target.cursor() as cursor:
        target_tables = set(target.introspection.table_names(cursor)) - SKIPPED_TABLES
        # {column: (referenced column, referenced table)}; Django 6 adds a third item.
        relations = {
            t: {
                column: (rel[0], rel[1])
                for column, rel in target.introspection.get_relations(cursor, t).items()
            }
            for t in target_tables
        }
        target_columns = {
            t: [c.name for c in target.introspection.get_table_description(cursor, t)]
            for t in target_tables
        }
        sequences = {t: target.introspection.get_sequences(cursor, t) for t in target_tables}
    with read_only(source_alias) as source_cursor:
        source_tables = set(source.introspection.table_names(source_cursor))
        shared = sorted(target_tables & source_tables)
        kept: dict[tuple[str, str], set[Any]] = {}
        needed = {
            (ref_table, ref_column)
            for t in shared
            for ref_column, ref_table in relations[t].values()
        }
        if target.vendor == "sqlite":
            with target.cursor() as cursor:
                cursor.execute("PRAGMA foreign_keys = OFF")
        for table in _order(shared, relations):
            source_columns = {
                c.name for c in source.introspection.get_table_description(source_cursor, table)
            }
            columns = [c for c in target_columns[table] if c in source_columns]
            if not columns:
                continue
            quoted = ", ".join(source.ops.quote_name(c) for c in columns)
            source_cursor.execute(
                f"SELECT {quoted} FROM {source.ops.quote_name(table)} LIMIT {int(rows)}"
            )
            fetched = source_cursor.fetchall()
            batch_values = {
                (table, column): {row[i] for row in fetched}
                for i, column in enumerate(columns)
                if (table, column) in needed
            }
            selected = [
                row
                for row in fetched
                if _references_kept(table, row, columns, relations[table], kept, batch_values)
            ]
            _insert(target, table, columns, selected)
            for i, column in enumerate(columns):
                if (table, column) in needed:
                    kept[(table, column)] = {row[i] for row in selected}
            result.rows[table] = len(selected)
            _reset_sequences(target, table, sequences[table])
    if target.vendor == "sqlite":
        with target.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys = ON")
    result.seconds = time.perf_counter() - started
    return result


def _references_kept(
    table: str,
    row: tuple,
    columns: list[str],
    relations: dict[str, tuple[str, str]],
    kept: dict[tuple[str, str], set[Any]],
    batch: dict[tuple[str, str], set[Any]],
) -> bool:
    for index, column in enumerate(columns):
        if column not in relations or row[index] is None:
            continue
        ref_column, ref_table = relations[column]
        allowed = (
            batch.get((ref_table, ref_column), set())
            if ref_table == table
            else kept.get((ref_table, ref_column))
        )
        if allowed is None or row[index] not in allowed:
            return False
    return True


def _insert(target: BaseDatabaseWrapper, table: str, columns: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    quoted_table = target.ops.quote_name(table)
    quoted = ", ".join(target.ops.quote_name(c) for c in columns)
    with _one_transaction(target), target.cursor() as cursor:
        if target.vendor == "postgresql":
            # The driver's COPY, with its errors turned into Django's as for any query.
            with (
                target.wrap_database_errors,
                cursor.cursor.copy(f"COPY {quoted_table} ({quoted}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {quoted_table} ({quoted}) VALUES ({placeholders})"
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start : start + BATCH])


@contextlib.contextmanager
def _one_transaction(target: BaseDatabaseWrapper) -> Iterator[None]:
    """Commit a table's rows at once (row by row autocommit is ~500x slower on SQLite)."""
    if target.in_atomic_block or not target.get_autocommit():
        yield  # already inside the caller's transaction
        return
    target.set_autocommit(False)
    try:
        yield
        target.commit()
    except BaseException:
        target.rollback()
        raise
    finally:
        target.set_autocommit(True)


def _reset_sequences(target: BaseDatabaseWrapper, table: str, sequences: list[dict]) -> None:
    if target.vendor != "postgresql":
        return  # SQLite and MySQL continue after the largest key by themselves
    with target.cursor() as cursor:
        for sequence in sequences:
            column = sequence.get("column")
            if not column:
                continue
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), "
                f"COALESCE((SELECT MAX({target.ops.quote_name(column)}) FROM "
                f"{target.ops.quote_name(table)}), 0) + 1, false)",
                [target.ops.quote_name(table), column],
            )
