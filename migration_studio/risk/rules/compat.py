"""Rolling deploys and data: what breaks the code still running, and what a rollback loses."""

from __future__ import annotations

from collections.abc import Iterable

from ...sql.reader import Action, Statement
from ...sql.text import BACKUP_TABLE_PREFIX, backup_of
from ..base import Finding, Rule, Severity
from ..context import OperationContext, narrowing


class NotNullWithoutDatabaseDefault(Rule):
    id = "MS151"
    title = "NOT NULL column without a database default breaks old code's inserts"
    severity = Severity.HIGH
    example = "AddField('order', 'discount', DecimalField(default=0))  # default is Python-only"
    safe_alternative = (
        "Give the field a database default (db_default=..., Django 5.0+) so rows inserted by the "
        "old code get a value, or add it nullable, deploy, backfill, then make it NOT NULL."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        after = context.facts.field_after
        if context.operation not in ("AddField", "AlterField") or not after or after.null:
            return
        if after.has_db_default or after.many_to_many or after.primary_key:
            return
        before = context.facts.field_before
        if context.operation == "AlterField" and before and not before.null:
            return  # it was NOT NULL already
        table = context.facts.table_after
        if not context.is_existing(table):
            return
        # Django fills existing rows from a Python default; without one (or with default=None,
        # db_default=None) the column is added NOT NULL with nothing to put in them.
        add_fails = context.operation == "AddField" and not after.has_default
        if not add_fails and _default_set_later(context, table, after.column, nullable=True):
            return  # a later statement of the migration gives the column a database default
        statements = [s.sql for s in context.statements if s.table == table]
        rows = context.rows(table)
        message = (
            f"{table}.{after.column} becomes NOT NULL with no database default: while old code "
            "still runs (a rolling deploy, or after a code rollback), its INSERTs do not set the "
            "column and fail."
        )
        if add_fails and rows != 0:
            message += (
                " The column has no default at all, so adding it fails as soon as the table has "
                "a row (PostgreSQL: column contains null values; SQLite: NOT NULL constraint "
                "failed)."
            )
        yield self.finding(
            context,
            message,
            statements=statements,
            tables=[table] if table else [],
            breaks_old_code=True,
            rows=rows,
        )


def _default_set_later(
    context: OperationContext,
    table: str | None,
    column: str | None,
    *,
    nullable: bool,
    earlier: bool = False,
) -> bool:
    """Whether the operations after ``context``'s (and before it, with ``earlier``), in the same
    migration, leave ``table.column`` with a database default (or, with ``nullable``, nullable):
    ``ALTER COLUMN ... SET DEFAULT`` in a RunSQL, or an AlterField with a ``db_default``. Inside
    the migration's transaction, no INSERT of old code sees the column without it."""
    protected = False
    for other in context.migration.operations():
        if other.index == context.index or (other.index < context.index and not earlier):
            continue
        facts = other.facts
        after, before = facts.field_after, facts.field_before
        if other.operation == "AlterField" and facts.table_after == table and after:
            if after.column == column:
                protected = (nullable and after.null) or after.has_db_default
                continue
            if before and before.column == column:
                protected = False  # renamed away by db_column
                continue
        for statement in other.statements:
            if statement.table != table:
                continue
            for action in statement.actions:
                if action.column != column:
                    continue
                if action.kind == "set_default":
                    protected = action.default is not None
                elif action.kind == "drop_not_null" and nullable:
                    protected = True
                elif action.kind in ("drop_default", "drop_column"):
                    protected = False
    return protected


class CheckRejectsOldInserts(Rule):
    id = "MS160"
    title = "CHECK constraint rejects old code's inserts"
    severity = Severity.HIGH
    example = (
        "AddConstraint('order', CheckConstraint(condition=Q(coupon__isnull=False), "
        "name='order_coupon_set'))  # coupon: null=True, no default"
    )
    safe_alternative = (
        "Give the column a database default (db_default=...) so rows inserted by the old code "
        "pass the check, or deploy code that always sets the column first and add the "
        "constraint in a later release."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement, action, table in _added_checks(context):
            unset = _left_null_by_old_code(context, table)
            for column in action.required_columns:
                if column not in unset or _default_set_later(
                    context, table, column, nullable=False, earlier=True
                ):
                    continue
                yield self.finding(
                    context,
                    f"The CHECK constraint {action.name or ''} on {table} requires "
                    f"{column} IS NOT NULL, but the code still running (a rolling deploy, or "
                    f"after a code rollback) leaves {column} NULL: its model has no such field, "
                    "or a nullable one without a default. Its INSERTs that do not set the column "
                    "fail (NOT VALID does not help: it only spares the existing rows).",
                    statements=[statement.sql],
                    tables=[table] if table else [],
                    breaks_old_code=True,
                )


def _added_checks(
    context: OperationContext,
) -> Iterable[tuple[Statement, Action, str | None]]:
    """(statement, check, table) for each CHECK the operation adds to an existing table: by
    ALTER TABLE, or (SQLite) by rebuilding the table with the AddConstraint's constraint."""
    for statement, action in context.actions("add_constraint", constraint="check"):
        yield statement, action, statement.table
    for statement in context.statements:
        table = (statement.table or "").removeprefix("new__")
        if statement.kind != "create_table" or table == statement.table:
            continue
        if not context.is_existing(table) or not context.facts.constraint:
            continue
        for action in statement.checks:
            if action.name == context.facts.constraint:
                yield statement, action, table


def _left_null_by_old_code(context: OperationContext, table: str | None) -> set[str]:
    """Columns of ``table`` that an INSERT of the old code leaves NULL, as far as the facts tell:
    nullable columns without a default (AddConstraint's facts), and nullable columns without a
    database default that earlier operations of the migration add (the old model lacks them)."""
    unset = set(context.facts.null_when_unset) if context.facts.table_before == table else set()
    for other in context.migration.operations():
        after = other.facts.field_after
        if (
            other.index < context.index
            and other.operation == "AddField"
            and other.facts.table_after == table
            and after
            and after.column
            and after.null
            and not after.has_db_default
        ):
            unset.add(after.column)
    return unset


class ColumnDropped(Rule):
    id = "MS152"
    title = "Column dropped: data loss, and old code still reads it"
    severity = Severity.HIGH
    example = "RemoveField('author', 'email')"
    safe_alternative = (
        "First deploy code that no longer uses the field (remove it from the model with "
        "SeparateDatabaseAndState so only the state changes), then drop the column in a later "
        "release. Back the data up if it may be needed."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        removed = context.facts.field_before
        dropped = any(a.kind == "drop_column" for s in context.statements for a in s.actions)
        table = context.facts.table_before
        if (
            context.operation == "RemoveField"
            and not dropped
            and removed
            and removed.column
            and context.is_existing(table)
            and context.statements
        ):
            # SQLite removes some columns by rebuilding the table without them.
            rows = context.rows(table)
            yield self.finding(
                context,
                f"Drops {table}.{removed.column} (the table is rebuilt without it): its data is "
                "gone, and code still running that selects it fails until it is deployed.",
                statements=[s.sql for s in context.statements][:4],
                tables=[table] if table else [],
                data_loss=True,
                breaks_old_code=True,
                rows=rows,
                severity=Severity.MEDIUM if rows == 0 else self.severity,
            )
        for statement, action in context.actions("drop_column"):
            rows = context.rows(statement.table)
            backup = backup_of(
                [s.sql for s in context.statements], statement.table or "", action.column or ""
            )
            if backup:
                message = (
                    f"Drops {statement.table}.{action.column}, after copying its values into "
                    f"{backup}: rolling back puts them back (and NOT NULL if it had it). Code "
                    "still running that selects the column fails until it is deployed."
                )
            else:
                message = (
                    f"Drops {statement.table}.{action.column}: its data is gone (a rollback "
                    "restores the column, empty), and code still running that selects it fails "
                    "until it is deployed."
                )
            yield self.finding(
                context,
                message,
                statements=[statement.sql],
                tables=[statement.table],
                data_loss=not backup,
                breaks_old_code=True,
                rows=rows,
                severity=Severity.MEDIUM if backup or rows == 0 else self.severity,
            )


class TableDropped(Rule):
    id = "MS153"
    title = "Table dropped: data loss, and old code still uses it"
    severity = Severity.CRITICAL
    example = "DeleteModel('tag')"
    safe_alternative = (
        "Deploy code that no longer uses the model first (SeparateDatabaseAndState), keep the "
        "table for a release, back it up, then drop it."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if (
                statement.kind == "drop_table"
                and context.is_existing(statement.table)
                and statement.table not in context.rebuilt_tables
            ):
                rows = context.rows(statement.table)
                backup = backup_of([s.sql for s in context.statements], statement.table or "")
                if backup:
                    message = (
                        f"Drops table {statement.table}, after copying its rows into {backup}: "
                        "rolling back creates it again and puts them back. Code still running "
                        "that uses it fails."
                    )
                    severity = Severity.MEDIUM if rows == 0 else Severity.HIGH
                else:
                    message = (
                        f"Drops table {statement.table}: every row is gone (a rollback recreates "
                        "it empty), and code still running that uses it fails."
                    )
                    severity = Severity.HIGH if rows == 0 else self.severity
                yield self.finding(
                    context,
                    message,
                    statements=[statement.sql],
                    tables=[statement.table],
                    data_loss=not backup,
                    breaks_old_code=True,
                    rows=rows,
                    severity=severity,
                )


class Renamed(Rule):
    id = "MS154"
    title = "Column or table renamed: old code uses the old name"
    severity = Severity.HIGH
    example = "RenameField('book', 'pages', 'page_count')"
    safe_alternative = (
        "Keep the database name and rename only in Python (db_column= / db_table=), or add the "
        "new column, write both, backfill, switch reads, then drop the old one."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            for action in statement.actions:
                if action.kind in ("rename_column", "rename_table") and context.is_existing(
                    statement.table
                ):
                    what = (
                        f"column {statement.table}.{action.column}"
                        if action.kind == "rename_column"
                        else f"table {statement.table}"
                    )
                    yield self.finding(
                        context,
                        f"Renames {what} to {action.name}: code still running (rolling deploy) "
                        "queries the old name and fails until it is replaced.",
                        statements=[statement.sql],
                        tables=[statement.table] if statement.table else [],
                        breaks_old_code=True,
                    )


class CallableDefaultEvaluatedOnce(Rule):
    id = "MS155"
    title = "Callable default evaluated once for every existing row"
    severity = Severity.MEDIUM
    example = "AddField('order', 'token', UUIDField(default=uuid.uuid4))"
    safe_alternative = (
        "Add the field nullable (or with db_default=... a database function), then fill existing "
        "rows in a data migration that calls the function per row, in batches."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        after = context.facts.field_after
        if context.operation != "AddField" or not after or not after.callable_default:
            return
        table = context.facts.table_after
        if not context.is_existing(table):
            return
        yield self.finding(
            context,
            f"{table}.{after.column} has the callable default {after.callable_default}: Django "
            "calls it once and gives every existing row that same value (e.g. one UUID or one "
            "timestamp for all rows).",
            statements=[s.sql for s in context.statements if s.table == table],
            tables=[table] if table else [],
            rows=context.rows(table),
        )


class RollbackLosesData(Rule):
    id = "MS156"
    title = "Rollback drops what the migration added (data written since is lost)"
    severity = Severity.MEDIUM
    directions = ("reverse",)
    example = "down.sql of AddField: ALTER TABLE ... DROP COLUMN ..."
    safe_alternative = (
        "Prefer rolling forward; if you must roll back, export the new columns or tables first "
        "(see rollback-plan.md)."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            dropped = []
            if (
                statement.kind == "drop_table"
                and statement.table not in context.rebuilt_tables
                and not (statement.table or "").startswith(BACKUP_TABLE_PREFIX)
            ):  # a backup table is dropped once its values are back
                dropped.append(f"table {statement.table}")
            dropped += [
                f"column {statement.table}.{a.column}"
                for a in statement.actions
                if a.kind == "drop_column"
            ]
            for what in dropped:
                yield self.finding(
                    context,
                    f"Rolling back drops {what}: whatever was written to it after the deploy is "
                    "lost.",
                    statements=[statement.sql],
                    tables=[statement.table] if statement.table else [],
                    data_loss_on_rollback=True,
                )


class RollbackFailsOnData(Rule):
    id = "MS157"
    title = "Rollback re-adds a NOT NULL column without default: fails on a non-empty table"
    severity = Severity.HIGH
    directions = ("reverse",)
    example = "down.sql of RemoveField(NOT NULL, no default): ADD COLUMN ... NOT NULL"
    safe_alternative = (
        "Give the field a default (or make it nullable) in a migration before removing it, so "
        "the reverse can re-add it; or plan the rollback as a restore."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        removed = context.facts.field_before
        if (
            context.operation == "RemoveField"
            and removed
            and not removed.null
            and not removed.has_default
            and not removed.has_db_default
            and not removed.many_to_many
        ):
            table = context.facts.table_before
            rows = context.rows(table)
            yield self.finding(
                context,
                f"The rollback re-adds {table}.{removed.column} NOT NULL without a default: it "
                "fails as soon as the table has a row, and the dropped data is not restored "
                "either.",
                statements=[s.sql for s in context.statements][:3],
                tables=[table] if table else [],
                data_loss=True,
                rows=rows,
                severity=Severity.LOW if rows == 0 else self.severity,
            )
            return
        for statement in context.statements:
            for action in statement.actions:
                if action.kind == "add_column" and action.not_null and action.default is None:
                    rows = context.rows(statement.table)
                    yield self.finding(
                        context,
                        f"The rollback adds {statement.table}.{action.column} NOT NULL without a "
                        "default: it fails as soon as the table has a row, and the dropped data "
                        "is not restored either.",
                        statements=[statement.sql],
                        tables=[statement.table] if statement.table else [],
                        data_loss=True,
                        rows=rows,
                        severity=Severity.LOW if rows == 0 else self.severity,
                    )


class RollbackNarrowsType(Rule):
    id = "MS159"
    title = "Rollback narrows a column type: values written since are cut, rounded or refused"
    severity = Severity.HIGH
    backends = ("postgresql",)
    directions = ("reverse",)
    example = "down.sql of AlterField text from varchar(300): ALTER COLUMN ... TYPE varchar(300)"
    safe_alternative = (
        "Before rolling back, find the values the old type cannot hold (e.g. WHERE "
        "length(col) > 300, WHERE col > 2147483647) and decide what to do with them; or roll "
        "forward instead, keeping the wider type."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        # The rollback starts from the type the migration gave the column.
        current = context.facts.field_after.db_type if context.facts.field_after else None
        for statement, action in context.actions("alter_type"):
            found = narrowing(current, action.new_type, using=action.using)
            if found is None:
                continue
            column = f"{statement.table}.{action.column}"
            effects = []
            if found.loses:
                effects.append(f"values {found.loses} without an error")
            if found.fails:
                effects.append(
                    f"values {found.fails}, and it cannot run until they are changed or deleted"
                )
            yield self.finding(
                context,
                f"The rollback changes {column} from {current} back to {action.new_type.lower()}: "
                "among the values written since the deploy, " + "; ".join(effects) + ".",
                statements=[statement.sql],
                tables=[statement.table] if statement.table else [],
                data_loss_on_rollback=True,
            )
