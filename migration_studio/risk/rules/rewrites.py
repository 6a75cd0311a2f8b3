"""Rewrites and scans: statements whose work grows with the table, under a strong lock."""

from __future__ import annotations

from collections.abc import Iterable

from ...sql.locks import ACCESS_EXCLUSIVE
from ...sql.reader import Statement
from ..base import Finding, Rule, Severity
from ..context import MigrationContext, OperationContext, rewrites_on_type_change
from .locks import lock_already_held, severity_for_seconds


def _heavy(
    rule: Rule,
    context: OperationContext,
    statement: object,
    message: str,
    *,
    table: str | None,
    rewrite: bool = False,
    scan: bool = False,
    lock: str = ACCESS_EXCLUSIVE,
    minimum: Severity = Severity.LOW,
) -> Finding:
    seconds = context.seconds(statement)  # type: ignore[arg-type]
    rows = context.rows(table)
    size = f" ({rows:,} rows, about {seconds:.1f}s)" if rows is not None and seconds else ""
    # SQLite's rebuilds hold the database's write lock: rated like a lock that stops the table.
    reads, held = (
        (False, "") if lock == "DATABASE" else lock_already_held(context, statement, table, lock)  # type: ignore[arg-type]
    )
    return rule.finding(
        context,
        message.format(table=table) + size + ("." + held.rstrip(".") if held else ""),
        statements=[statement.sql],  # type: ignore[attr-defined]
        tables=[table] if table else [],
        lock=lock,
        blocks_reads=reads,
        blocks_writes=True,
        rewrite=rewrite,
        scan=scan,
        rows=rows,
        estimated_seconds=seconds,
        lock_seconds=seconds,
        severity=max(
            minimum,
            severity_for_seconds(
                seconds, unknown=rule.severity, blocks_reads=reads or lock == "DATABASE"
            ),
        ),
    )


class ColumnTypeRewrite(Rule):
    id = "MS111"
    title = "Column type change rewrites the table"
    severity = Severity.HIGH
    backends = ("postgresql",)
    example = 'ALTER TABLE "book" ALTER COLUMN "pages" TYPE bigint;'
    safe_alternative = (
        "Add a new column of the new type, backfill it in batches, switch the code to it, then "
        "drop the old column (expand/contract). Widening a varchar, varchar to text and widening "
        "a numeric's precision are metadata-only and safe."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        old = context.facts.field_before.db_type if context.facts.field_before else None
        for statement in context.statements:
            for action in statement.actions:
                if action.kind != "alter_type" or not context.is_existing(statement.table):
                    continue
                if not rewrites_on_type_change(old, action.new_type):
                    continue
                yield _heavy(
                    self,
                    context,
                    statement,
                    f"Changing {action.column} from {old or 'its type'} to {action.new_type} "
                    "rewrites every row of {table} and rebuilds its indexes under ACCESS "
                    "EXCLUSIVE: reads and writes wait until it ends",
                    table=statement.table,
                    rewrite=True,
                    minimum=Severity.MEDIUM,
                )


class VolatileDefaultRewrite(Rule):
    id = "MS112"
    title = "Column added with a volatile default or generated values rewrites the table"
    severity = Severity.HIGH
    backends = ("postgresql",)
    example = 'ALTER TABLE "t" ADD COLUMN "token" uuid DEFAULT gen_random_uuid() NOT NULL;'
    safe_alternative = (
        "Add the column nullable without a default, backfill it in batches, then add the "
        "default and NOT NULL (with a validated CHECK first on PostgreSQL 12+)."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if statement.kind != "alter_table" or not context.is_existing(statement.table):
                continue
            for action in statement.actions:
                if action.kind == "add_column" and (
                    context.action_work(statement, action) == "rewrite"
                ):
                    yield _heavy(
                        self,
                        context,
                        statement,
                        f"Adding {action.column} "
                        + (
                            "as an identity, serial or stored generated column"
                            if action.generated
                            else f"with DEFAULT {action.default}"
                        )
                        + " rewrites every row of {table} under ACCESS EXCLUSIVE (a value is "
                        "computed per row, or the server predates PostgreSQL 11)",
                        table=statement.table,
                        rewrite=True,
                        minimum=Severity.MEDIUM,
                    )


class PrimaryKeyTypeChange(Rule):
    id = "MS113"
    title = "Primary key type change rewrites every referencing table"
    severity = Severity.HIGH
    backends = ("postgresql",)
    example = 'ALTER TABLE "customer" ALTER COLUMN "id" TYPE bigint;'
    safe_alternative = (
        "Migrate the key with a new column per table (expand/contract) and switch over, or plan "
        "a maintenance window sized from the report's estimates."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        before = context.facts.field_before
        if not before or not before.primary_key:
            return
        changed = [
            statement
            for statement in context.statements
            if any(a.kind == "alter_type" for a in statement.actions)
            and statement.table in context.facts.referenced_by
        ]
        if changed:
            tables = sorted({s.table for s in changed if s.table})
            seconds = sum(context.seconds(s) or 0 for s in changed)
            yield self.finding(
                context,
                f"Changing the primary key type of {context.facts.table_before} also rewrites "
                f"the foreign key columns of {', '.join(tables)}: each of those tables is "
                "rewritten under ACCESS EXCLUSIVE in the same transaction.",
                statements=[s.sql for s in changed],
                tables=tables,
                lock=ACCESS_EXCLUSIVE,
                blocks_reads=True,
                blocks_writes=True,
                rewrite=True,
                estimated_seconds=seconds or None,
                lock_seconds=seconds or None,
            )


class SQLiteTableRebuild(Rule):
    id = "MS114"
    title = "SQLite rebuilds the table (copy of every row)"
    severity = Severity.LOW
    backends = ("sqlite",)
    example = 'CREATE TABLE "new__shop_order" (...); INSERT INTO "new__shop_order" SELECT ...'
    safe_alternative = (
        "SQLite alters most columns by copying the table: expect the whole database to be "
        "locked for the copy; schedule it when writes can wait."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            kind, table = context.work(statement)
            if kind == "copy" and context.is_existing(table):
                yield _heavy(
                    self,
                    context,
                    statement,
                    "Rebuilds {table}: a new table is created, every row copied into it, and the "
                    "old table dropped, while the database is locked for writes",
                    table=table,
                    rewrite=True,
                    lock="DATABASE",
                )


class SetNotNullScan(Rule):
    id = "MS121"
    title = "SET NOT NULL scans the whole table"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    example = 'ALTER TABLE "author" ALTER COLUMN "email" SET NOT NULL;'
    safe_alternative = (
        "On PostgreSQL 12+: add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a separate "
        "migration (no ACCESS EXCLUSIVE), then SET NOT NULL (skips the scan) and drop the CHECK."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement, action in context.actions("set_not_null"):
            if context.proven_not_null(statement, action.column):
                continue  # a validated CHECK already proves it: no scan
            yield _heavy(
                self,
                context,
                statement,
                f"SET NOT NULL on {action.column} reads every row of {{table}} under "
                "ACCESS EXCLUSIVE to prove there is no NULL",
                table=statement.table,
                scan=True,
            )


class CheckConstraintScan(Rule):
    id = "MS122"
    title = "CHECK constraint added without NOT VALID scans the table"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    example = 'ALTER TABLE "book" ADD CONSTRAINT "pages_gte_0" CHECK ("pages" >= 0);'
    safe_alternative = (
        "Add the constraint NOT VALID (RunSQL or a custom operation), then VALIDATE CONSTRAINT "
        "in a later migration: validation takes only SHARE UPDATE EXCLUSIVE."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement, action in context.actions(
            "add_constraint", constraint="check", validated=True
        ):
            yield _heavy(
                self,
                context,
                statement,
                f"Adding CHECK {action.name} reads every row of {{table}} under ACCESS "
                "EXCLUSIVE to validate it",
                table=statement.table,
                scan=True,
            )


class ForeignKeyValidationScan(Rule):
    id = "MS123"
    title = "Foreign key on an existing column validated in the same statement"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    example = 'ALTER TABLE "note" ADD CONSTRAINT "fk" FOREIGN KEY ("book_id") REFERENCES ...;'
    safe_alternative = (
        "Add the constraint NOT VALID, then VALIDATE CONSTRAINT in a later migration "
        "(SHARE UPDATE EXCLUSIVE: reads and writes continue)."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement, action in context.actions(
            "add_constraint", constraint="foreign_key", validated=True
        ):
            yield _heavy(
                self,
                context,
                statement,
                f"Adding foreign key {action.name} checks every row of {{table}} against "
                f"{action.references} while writes to both tables wait",
                table=statement.table,
                scan=True,
                lock="SHARE ROW EXCLUSIVE",
            )


class UniqueConstraintIndex(Rule):
    id = "MS124"
    title = "UNIQUE constraint builds its index under ACCESS EXCLUSIVE"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    example = 'ALTER TABLE "book" ADD CONSTRAINT "book_isbn_uniq" UNIQUE ("isbn");'
    safe_alternative = (
        "CREATE UNIQUE INDEX CONCURRENTLY (non-atomic migration), then "
        "ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX (metadata-only)."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if not context.is_existing(statement.table):
                continue
            for action in statement.actions:
                if action.kind == "add_column" and action.unique:
                    what = f"unique column {action.column}"
                elif (
                    action.kind == "add_constraint"
                    and action.constraint in ("unique", "primary_key", "exclusion")
                    and not action.using
                ):
                    what = f"{action.constraint.replace('_', ' ')} {action.name}"
                else:
                    continue
                yield _heavy(
                    self,
                    context,
                    statement,
                    f"Adding {what} builds a unique index on {{table}} under ACCESS EXCLUSIVE: "
                    "reads and writes wait for the whole build, and it fails if duplicates exist",
                    table=statement.table,
                    scan=True,
                )


class NotValidValidatedInOneTransaction(Rule):
    id = "MS125"
    title = "NOT VALID and VALIDATE in the same transaction"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    scope = "migration"
    example = (
        'ALTER TABLE "book" ADD CONSTRAINT "pages_gte_0" CHECK ("pages" >= 0) NOT VALID; '
        'ALTER TABLE "book" VALIDATE CONSTRAINT "pages_gte_0";'
    )
    safe_alternative = (
        "Validate in a later migration: the NOT VALID step then commits at once, and the "
        "validation runs in its own transaction under SHARE UPDATE EXCLUSIVE only."
    )

    def check_migration(self, migration: MigrationContext) -> Iterable[Finding]:
        if not migration.bundle.transactional:
            return
        added: dict[tuple[str | None, str | None], tuple[str, str]] = {}
        for context in migration.operations():
            for statement in context.statements:
                for action in statement.actions:
                    key = (statement.table, action.name)
                    if action.kind == "add_constraint" and action.not_valid:
                        if context.is_existing(statement.table):
                            lock = statement.locks().get(statement.table or "", ACCESS_EXCLUSIVE)
                            added[key] = (statement.sql, lock)
                    elif action.kind == "validate_constraint" and key in added:
                        sql, lock = added.pop(key)
                        yield self._finding(context, statement, action.name, sql, lock)

    def _finding(
        self,
        context: OperationContext,
        statement: Statement,
        name: str | None,
        added: str,
        lock: str,
    ) -> Finding:
        finding = _heavy(
            self,
            context,
            statement,
            f"Validates {name} on {{table}} in the transaction that added it NOT VALID: the {lock} "
            "the ADD took is held while every row is checked, so NOT VALID gains nothing",
            table=statement.table,
            scan=True,
            lock=lock,
        )
        finding.statements = [added, *finding.statements]
        return finding
