"""Indexes: built or dropped without CONCURRENTLY; unique indexes on SQLite."""

from __future__ import annotations

from collections.abc import Iterable

from ...sql.locks import ACCESS_EXCLUSIVE, SHARE
from ...sql.reader import Statement
from ..base import Finding, Rule, Severity
from ..context import OperationContext
from .locks import lock_already_held, severity_for_seconds


def _index_build(
    rule: Rule,
    context: OperationContext,
    statement: Statement,
    message: str,
    *,
    lock: str | None = None,
) -> Finding:
    """An index built on an existing table: writes wait for the build, sized when known."""
    seconds = context.seconds(statement)
    rows = context.rows(statement.table)
    reads, held = lock_already_held(context, statement, statement.table, lock)
    return rule.finding(
        context,
        message + (f" ({rows:,} rows, about {seconds:.1f}s)." if rows and seconds else ".") + held,
        statements=[statement.sql],
        tables=[statement.table] if statement.table else [],
        lock=lock,
        blocks_reads=reads,
        blocks_writes=True,
        rows=rows,
        estimated_seconds=seconds,
        lock_seconds=seconds,
        severity=severity_for_seconds(seconds, unknown=rule.severity, blocks_reads=reads),
    )


class IndexBuiltWithoutConcurrently(Rule):
    id = "MS131"
    title = "Index built without CONCURRENTLY blocks writes"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    example = 'CREATE INDEX "shop_product_name_idx" ON "shop_product" ("name");'
    safe_alternative = (
        "Use django.contrib.postgres.operations.AddIndexConcurrently (or "
        "CREATE INDEX CONCURRENTLY) in a migration with atomic = False."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if statement.kind != "create_index" or statement.concurrently:
                continue
            if not context.is_existing(statement.table):
                continue
            yield _index_build(
                self,
                context,
                statement,
                f"Builds index {statement.index} on {statement.table} holding SHARE: inserts, "
                "updates and deletes wait for the whole build",
                lock=SHARE,
            )


class IndexDroppedWithoutConcurrently(Rule):
    id = "MS132"
    title = "Index dropped without CONCURRENTLY"
    severity = Severity.LOW
    backends = ("postgresql",)
    directions = ("forward", "reverse")
    example = 'DROP INDEX IF EXISTS "book_tp_idx";'
    safe_alternative = (
        "Use RemoveIndexConcurrently (django.contrib.postgres.operations) in a non-atomic "
        "migration: DROP INDEX CONCURRENTLY waits for running queries without blocking new ones."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if statement.kind != "drop_index" or statement.concurrently:
                continue
            table = context.table_of(statement)
            if not context.is_existing(table):
                continue
            yield self.finding(
                context,
                f"Drops index {statement.index} with ACCESS EXCLUSIVE on {table}: brief, but "
                "it waits for running queries and every new query on the table waits behind it.",
                statements=[statement.sql],
                tables=[table] if table else [],
                lock=ACCESS_EXCLUSIVE,
                blocks_reads=True,
                blocks_writes=True,
            )


class SQLiteUniqueIndex(Rule):
    id = "MS133"
    title = "SQLite: unique index on an existing table"
    severity = Severity.MEDIUM
    backends = ("sqlite",)
    example = 'CREATE UNIQUE INDEX "shop_order_ref_uniq" ON "shop_order" ("ref");'
    safe_alternative = (
        "Remove the duplicates first (a data migration before this one), and run it when few "
        "writes happen: SQLite builds it holding the database's write lock."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if statement.kind != "create_index" or not statement.unique:
                continue
            if not context.is_existing(statement.table):
                continue
            finding = _index_build(
                self,
                context,
                statement,
                f"Builds unique index {statement.index} on {statement.table}: it fails if existing "
                "rows have duplicates, and every write to the database waits for the build",
            )
            # Any rows may hold duplicates: medium at least, unless the table is known empty.
            if finding.rows == 0:
                finding.severity = Severity.LOW
            else:
                finding.severity = max(Severity.MEDIUM, finding.severity)
            yield finding
