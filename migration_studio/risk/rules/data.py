"""Data changes and opaque operations: backfills, RunPython, RunSQL, reversibility."""

from __future__ import annotations

from collections.abc import Iterable

from ...sql.reader import parse_all
from ..base import Finding, Rule, Severity
from ..context import ChangedRows, MigrationContext, OperationContext
from .locks import lock_already_held, severity_for_seconds

DATA_OPERATIONS = ("RunPython",)


class BackfillInTransaction(Rule):
    id = "MS141"
    title = "UPDATE of existing rows inside the migration"
    severity = Severity.MEDIUM
    example = 'UPDATE "author" SET "email" = \'\' WHERE "email" IS NULL;'
    safe_alternative = (
        "Backfill in batches outside the schema migration (a management command or a non-atomic "
        "data migration committing every few thousand rows), then apply the constraint."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if statement.kind != "update" or not context.is_existing(statement.table):
                continue
            seconds = context.seconds(statement)
            changed = context.changed_rows(statement)
            rows = changed.rows
            reads, held = lock_already_held(context, statement, statement.table, "ROW EXCLUSIVE")
            yield self.finding(
                context,
                f"Updates rows of {statement.table} in the migration's transaction: every "
                "updated row stays locked until COMMIT, and the table bloats by one row version "
                "per update" + _size(changed) + held,
                statements=[statement.sql],
                tables=[statement.table] if statement.table else [],
                lock="ROW EXCLUSIVE",
                blocks_reads=reads,
                blocks_writes=True,
                rows=rows,
                estimated_seconds=seconds,
                lock_seconds=seconds,
                severity=severity_for_seconds(seconds, unknown=self.severity, blocks_reads=reads),
            )


def _size(changed: ChangedRows) -> str:
    """How many rows a backfill changes and for how long, to end MS141's message."""
    total, seconds = changed.table_rows, changed.seconds
    if not total or seconds is None:
        return "."
    if changed.upper_bound:
        which = (
            f"how many have {changed.column} NULL is unknown"
            if changed.column
            else "how many the WHERE clause selects is unknown"
        )
        return f" (up to {total:,} rows, up to about {seconds:.1f}s: {which})."
    if changed.fraction is None:
        return f" (all {total:,} rows, about {seconds:.1f}s)."
    return (
        f" (about {changed.rows:,} rows: the {_percent(changed.fraction)} of {total:,} whose "
        f"{changed.column} is NULL, per the table statistics; about {seconds:.1f}s)."
    )


def _percent(fraction: float) -> str:
    return f"{fraction:.0%}" if fraction >= 0.01 or fraction == 0 else f"{fraction:.2%}"


class RunPythonOperation(Rule):
    id = "MS142"
    title = "RunPython: opaque data step"
    severity = Severity.MEDIUM
    example = "RunPython(forwards_func, reverse_func)"
    safe_alternative = (
        "Process rows in batches (iterator() and bulk_update), keep it idempotent, give it a "
        "reverse_code (RunPython.noop if nothing to undo), and test it on a copy of production "
        "data."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        if context.operation != "RunPython" or context.op.expressible:
            return  # expressible: RunPython.noop both ways, which does nothing
        backfill = context.facts.backfill
        if backfill and context.direction == "forward":
            yield self._backfill(context, backfill)
            return
        yield self.finding(
            context,
            "Runs Python code whose queries, duration and locks cannot be known from the SQL: "
            "review it for batching, idempotence and the rows it touches."
            + ("" if context.op.reversible else " It has no reverse_code: no rollback."),
        )

    def _backfill(self, context: OperationContext, backfill: dict) -> Finding:
        """A data-migration stub: batches of consecutive primary keys, each its own transaction
        when the migration is not atomic."""
        field = backfill.get("field")
        what = f"{backfill['model']}.{field}" if field else backfill["model"]
        verb = "Backfills" if field else "Changes the rows of"
        decide = (
            "Decide the value in new_value()"
            if field
            else "Decide the rows and the change (pending_*() and change_*())"
        )
        seconds = backfill.get("batch_seconds") or 0
        if context.migration.bundle.atomic and context.migration.bundle.transactional:
            return self.finding(
                context,
                f"{verb} {what} in batches, but the migration is atomic: every batch runs in "
                "one transaction, so the rows it updates stay locked until the whole backfill "
                "commits. Set atomic = False on the migration.",
                severity=Severity.HIGH,
            )
        return self.finding(
            context,
            f"{verb} {what} in batches of consecutive primary keys, each committed on its "
            f"own (about {seconds:g} s each): no table lock; a write to a row of the current "
            f"batch waits for that batch only. {decide} before deploying.",
            severity=Severity.INFO,
        )


class RunSQLOperation(Rule):
    id = "MS143"
    title = "RunSQL: hand-written SQL to review"
    severity = Severity.LOW
    example = 'RunSQL("UPDATE ...", reverse_sql="...")'
    safe_alternative = (
        "Review the SQL like any other statement of the report; give it reverse_sql, and "
        "state_operations when it changes the schema."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        if context.operation != "RunSQL":
            return
        if context.statements and all(s.kind == "set" for s in context.statements):
            return  # session settings (SET lock_timeout ...): nothing to review
        opaque = [s.sql for s in context.statements if s.kind == "other"]
        yield self.finding(
            context,
            "Runs hand-written SQL"
            + (f"; {len(opaque)} statement(s) could not be analysed" if opaque else "")
            + ("" if context.op.reversible else "; it has no reverse_sql: no rollback")
            + ".",
            statements=opaque,
            severity=Severity.MEDIUM if opaque or not context.op.reversible else self.severity,
        )


class IrreversibleOperation(Rule):
    id = "MS145"
    title = "Operation cannot be reversed"
    severity = Severity.MEDIUM
    example = "RunSQL('...') without reverse_sql"
    safe_alternative = "Provide the reverse (reverse_code / reverse_sql), or plan a forward fix."

    def check(self, context: OperationContext) -> Iterable[Finding]:
        if context.op.reversible:
            return
        yield self.finding(
            context,
            f"No rollback past this operation: {context.op.reason}.",
            data_loss_on_rollback=True,
        )


class RollbackKeepsData(Rule):
    id = "MS147"
    title = "Rollback restores the schema, not the data: the reverse is a no-op"
    severity = Severity.LOW
    directions = ("reverse",)
    example = "RunPython(fill, RunPython.noop); RunSQL('UPDATE ...', RunSQL.noop)"
    safe_alternative = (
        "Write a reverse that undoes the data change (or keeps what it needs to, e.g. a copy of "
        "the old values), or accept that after a rollback the data stays as the migration left "
        "it and check that the previous code copes with it."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        if not context.op.reversible or context.op.reverse_sql is None:
            return  # no rollback at all: MS145's
        if context.operation == "RunPython" and context.facts.reverse_noop:
            if context.op.expressible:
                return  # RunPython.noop both ways: nothing changed, nothing to restore
            yield self.finding(
                context,
                "The reverse of this RunPython is RunPython.noop: rolling back restores the "
                "schema, not the data; whatever the forward code changed in the rows stays as it "
                "left it.",
                data_loss_on_rollback=True,
            )
            return
        if context.operation != "RunSQL" or context.op.all_reverse_sql:
            return
        forward = [
            statement
            for text in context.op.all_forward_sql
            for statement in parse_all(text)
            if statement.kind in ("update", "insert", "delete")
        ]
        if not forward:
            return
        tables = sorted({s.table for s in forward if s.table})
        yield self.finding(
            context,
            "The reverse_sql of RunSQL is empty, after forward SQL that changes rows"
            + (f" of {', '.join(tables)}" if tables else "")
            + ": rolling back restores the schema, not the data; the rows stay as it left them.",
            statements=[s.sql for s in forward][:3],
            tables=tables,
            data_loss_on_rollback=True,
        )


class SchemaAndDataMixed(Rule):
    id = "MS144"
    title = "Schema and data changes in one migration"
    severity = Severity.LOW
    scope = "migration"
    example = "AddField(...) + RunPython(fill) in one migration"
    safe_alternative = (
        "Put the data step in its own migration: schema locks are not held while it runs, and "
        "it can be retried or batched independently."
    )

    def check_migration(self, migration: MigrationContext) -> Iterable[Finding]:
        operations = migration.operations()
        data = [c for c in operations if c.operation in DATA_OPERATIONS and not c.op.expressible]
        schema = [c for c in operations if c.operation not in (*DATA_OPERATIONS, "RunSQL")]
        if data and schema:
            context = data[0]
            yield self.finding(
                context,
                f"{len(schema)} schema operation(s) and {len(data)} data operation(s) share one "
                "migration"
                + (
                    ": in one transaction, the schema locks are held while the data step runs."
                    if migration.bundle.transactional
                    else "."
                ),
            )


class NonAtomicMigration(Rule):
    id = "MS146"
    title = "Non-atomic migration: a failure leaves it half applied"
    severity = Severity.LOW
    scope = "migration"
    example = "class Migration: atomic = False"
    safe_alternative = (
        "Keep non-atomic migrations to one idempotent statement each (e.g. one concurrent "
        "index), so a failed run can simply be retried."
    )

    def check_migration(self, migration: MigrationContext) -> Iterable[Finding]:
        if migration.bundle.atomic or not migration.bundle.operations:
            return
        statements = sum(len(op.all_forward_sql) for op in migration.bundle.operations)
        if statements > 1:
            context = migration.operations()[0]
            yield self.finding(
                context,
                f"{statements} statements commit one by one: if one fails, the ones before it "
                "stay applied and the migration is not recorded; re-running must cope with that.",
            )
