"""Locks: what each statement locks, for how long, and what waits behind it."""

from __future__ import annotations

from collections.abc import Iterable

from ...sql.locks import (
    ACCESS_EXCLUSIVE,
    BLOCKS_READS,
    BLOCKS_WRITES,
    LOCK_ORDER,
    SHARE_ROW_EXCLUSIVE,
    stronger,
)
from ...sql.reader import Statement
from ..base import Finding, Rule, Severity
from ..context import MigrationContext, OperationContext
from ..holds import Hold, Span

#: Seconds of blocking from which a finding is medium, high, critical: blocking reads (ACCESS
#: EXCLUSIVE) is an outage of every query on the table, blocking writes only is less severe, but
#: half a second of it (an index build on a million rows) is already felt by the application.
THRESHOLDS = {True: (0.1, 1.0, 10.0), False: (0.5, 10.0, 60.0)}


def severity_for_seconds(
    seconds: float | None, *, unknown: Severity = Severity.MEDIUM, blocks_reads: bool = True
) -> Severity:
    """How bad it is to block a table for ``seconds`` (None: the table size is unknown)."""
    if seconds is None:
        return unknown
    medium, high, critical = THRESHOLDS[blocks_reads]
    if seconds < medium:
        return Severity.LOW
    if seconds < high:
        return Severity.MEDIUM
    if seconds < critical:
        return Severity.HIGH
    return Severity.CRITICAL


class AccessExclusiveLock(Rule):
    id = "MS101"
    title = "ACCESS EXCLUSIVE lock on an existing table"
    severity = Severity.LOW
    backends = ("postgresql",)
    example = 'ALTER TABLE "shop_order" ADD COLUMN "note" text NULL;'
    safe_alternative = (
        "Set a short lock_timeout (e.g. SET lock_timeout = '2s') and retry on timeout, so the "
        "statement never queues in front of your traffic; keep the locked part metadata-only."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement, table, mode in context.strong_locks():
            seconds = context.seconds(statement)
            rows = context.rows(table)
            yield self.finding(
                context,
                f"Takes {mode} on {table}: every read and write of it waits until the transaction "
                f"ends; while the lock waits for running queries, new queries queue behind it.",
                statements=[statement.sql],
                tables=[table],
                lock=mode,
                blocks_reads=True,
                blocks_writes=True,
                rows=rows,
                lock_seconds=seconds,
                estimated_seconds=seconds,
                severity=severity_for_seconds(seconds, unknown=Severity.LOW),
            )


class ReferencedTableLock(Rule):
    id = "MS102"
    title = "Foreign key change locks the referenced table"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    directions = ("forward", "reverse")
    example = 'ALTER TABLE "order" ADD CONSTRAINT ... FOREIGN KEY ("customer_id") REFERENCES ...;'
    safe_alternative = (
        "Add foreign keys NOT VALID and VALIDATE CONSTRAINT in a later migration; drop tables "
        "and foreign keys in a quiet period with a short lock_timeout."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if statement.kind == "drop_index":
                continue  # locks the index's own table only (MS101, MS132)
            own = context.table_of(statement)
            referenced = {table: mode for table, mode in statement.locks().items() if table != own}
            if statement.kind == "drop_table" or (
                statement.kind == "alter_table"
                and any(a.kind == "drop_constraint" for a in statement.actions)
                and _dropped_field_target(context)
            ):
                for table in self._targets(context, statement):
                    referenced[table] = ACCESS_EXCLUSIVE
            for table, mode in sorted(referenced.items()):
                if not context.is_existing(table):
                    yield self.finding(
                        context,
                        f"Takes {mode} on the referenced table {table}, which this migration "
                        "creates: nothing uses it yet, so nothing waits.",
                        statements=[statement.sql],
                        tables=[table],
                        lock=mode,
                        severity=Severity.INFO,
                    )
                    continue
                # A foreign key from a table this migration creates checks no rows: the lock is
                # taken briefly, like other metadata-only changes (held until COMMIT: MS104).
                brief = (
                    mode != ACCESS_EXCLUSIVE and own is not None and not context.is_existing(own)
                )
                yield self.finding(
                    context,
                    f"Also takes {mode} on the referenced table {table}"
                    + (
                        " (blocks its reads and writes)"
                        if mode in BLOCKS_READS
                        else " (blocks its writes)"
                        if mode in BLOCKS_WRITES
                        else ""
                    )
                    + (
                        ": the new table has no rows to check, so only briefly, but until the "
                        "transaction ends."
                        if brief
                        else ", for as long as the transaction runs."
                    ),
                    statements=[statement.sql],
                    tables=[table],
                    lock=mode,
                    blocks_reads=mode in BLOCKS_READS,
                    blocks_writes=mode in BLOCKS_WRITES,
                    rows=context.rows(table),
                    severity=Severity.HIGH
                    if mode == ACCESS_EXCLUSIVE
                    else Severity.LOW
                    if brief
                    else Severity.MEDIUM,
                )

    def _targets(self, context: OperationContext, statement: object) -> list[str]:
        targets = set()
        if _dropped_field_target(context):
            targets.add(_dropped_field_target(context))
        if getattr(statement, "kind", "") == "drop_table":
            targets.update(context.facts.points_to)
        return sorted(t for t in targets if context.is_existing(t))


def _dropped_field_target(context: OperationContext) -> str | None:
    """The table the foreign key of the field as it was before the SQL runs points to: the field
    before the operation forwards, the field after it on rollback (``down.sql`` undoes it)."""
    field = (
        context.facts.field_before if context.direction == "forward" else context.facts.field_after
    )
    return field.target_table if field else None


class LockTimeoutMissing(Rule):
    id = "MS103"
    title = "Strong lock without lock_timeout"
    severity = Severity.LOW
    backends = ("postgresql",)
    example = 'ALTER TABLE "shop_order" DROP COLUMN "note";'
    safe_alternative = (
        "Run the migration with a lock_timeout (e.g. OPTIONS={'options': '-c lock_timeout=2s'} "
        "for the migrating connection, or RunSQL(\"SET lock_timeout = '2s'\") first) and retry."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        if context.migration.sets_lock_timeout:
            return
        waiting = []  # (statement, table, mode) for locks that make other sessions wait
        on_new_tables: dict[str, None] = {}  # statement -> None, on tables this migration creates
        for statement in context.statements:
            for table, mode in statement.locks().items():
                if statement.kind == "drop_index":
                    table = context.table_of(statement) or table
                if mode not in BLOCKS_WRITES:
                    continue
                held = context.held_before(statement, table)
                if held is not None and stronger(held[0], mode) == held[0]:
                    continue  # the transaction already holds it (or stronger): nothing to wait for
                if context.is_existing(table):
                    waiting.append((statement, table, mode))
                else:
                    on_new_tables[statement.sql] = None
        if not waiting:
            if on_new_tables:
                yield self.finding(
                    context,
                    "Takes strong locks only on tables this migration creates: no other session "
                    "uses them yet, so no lock_timeout is needed for them.",
                    statements=list(on_new_tables),
                    severity=Severity.INFO,
                )
            return
        modes: dict[str, str] = {}
        for _, table, mode in waiting:
            modes[table] = stronger(modes.get(table), mode) or mode
        strongest = max(modes.values(), key=LOCK_ORDER.index)
        tables = sorted(modes)
        locks = ", ".join(f"{modes[table]} on {table}" for table in tables)
        statements = dict.fromkeys(statement.sql for statement, _, _ in waiting)
        yield self.finding(
            context,
            f"Nothing bounds how long {locks} may wait: behind one long-running query it queues, "
            "and every query on the table that conflicts with it queues behind it (an outage)."
            + (
                " The locks on the tables this migration creates need no timeout (no other "
                "session uses them yet)."
                if on_new_tables
                else ""
            ),
            statements=[*statements, *(s for s in on_new_tables if s not in statements)],
            tables=tables,
            lock=strongest,
            blocks_reads=strongest in BLOCKS_READS,
            blocks_writes=True,
        )


class LocksHeldAcrossMigration(Rule):
    """A transactional migration keeps every lock until COMMIT."""

    id = "MS104"
    title = "Lock held until COMMIT while later work runs"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    example = "ALTER TABLE a ADD COLUMN ...; CREATE INDEX ON a (...);  -- one transaction"
    safe_alternative = (
        "Split the migration: keep quick metadata changes in one migration and slow work "
        "(index builds, validations, backfills, RunPython) in another, ideally non-atomic and "
        "concurrent."
    )
    scope = "migration"

    def check_migration(self, migration: MigrationContext) -> Iterable[Finding]:
        if not migration.bundle.transactional:
            return
        for hold in migration.holds.holds:
            waits = [(access, span) for access, span in hold_waits(hold) if span.later]
            if not waits:
                continue
            severity = max(
                severity_for_seconds(span.seconds, blocks_reads="reads" in access)
                for access, span in waits
            )
            if severity == Severity.LOW:
                continue  # known to be short: the statements' own findings say enough
            first = waits[0][1]
            later = dict.fromkeys(step.description for _, span in waits for step in span.later)
            statements = dict.fromkeys(
                [*(span.statement for _, span in waits)]
                + [step.sql for _, span in waits for step in span.later if step.sql]
            )
            context = migration.operations()[first.operation]
            yield self.finding(
                context,
                f"{hold.table} is locked {hold.mode} until COMMIT, and the transaction goes on "
                f"with {_and(list(later))}: "
                + "; ".join(
                    f"{access} of {hold.table} wait {_for(span)} (from operation "
                    f"{span.operation + 1})"
                    for access, span in waits
                )
                + ".",
                statements=list(statements),
                tables=[hold.table],
                lock=hold.mode,
                blocks_reads=hold.reads is not None,
                blocks_writes=hold.writes is not None,
                rows=hold.rows,
                lock_seconds=first.seconds,
                estimated_seconds=first.seconds,
                severity=severity,
            )


def hold_waits(hold: Hold) -> list[tuple[str, Span]]:
    """("reads", span) and ("writes", span) for what waits on a table; reads once, when reads
    and writes wait for the same lock."""
    reads, writes = hold.reads, hold.writes
    if (
        reads is not None
        and writes is not None
        and (reads.statement, reads.operation)
        == (
            writes.statement,
            writes.operation,
        )
    ):
        return [("reads and writes", reads)]
    return [
        (access, span)
        for access, span in (("reads", hold.reads), ("writes", hold.writes))
        if span is not None
    ]


def _for(span: Span) -> str:
    if span.seconds is not None:
        return f"about {span.seconds:.1f}s"
    if span.at_least >= 0.05:
        return f"at least {span.at_least:.1f}s (a duration is unknown)"
    return "for a time the report cannot tell (a table size or Python code is unknown)"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def lock_already_held(
    context: OperationContext, statement: Statement, table: str | None, lock: str | None
) -> tuple[bool, str]:
    """(whether reads wait, the sentence saying why) for a statement that blocks writes, when the
    transaction already holds a lock on ``table`` that blocks reads too."""
    if lock in BLOCKS_READS:
        return True, ""
    if context.vendor != "postgresql":
        return False, ""  # PostgreSQL's lock modes; SQLite's rules speak of its database lock
    held = context.held_before(statement, table)
    if held is None or held[0] not in BLOCKS_READS:
        return False, ""
    mode, operation = held
    return True, (
        f" Reads wait as well: the transaction already holds {mode} on {table} (taken by "
        f"operation {operation + 1}) until COMMIT."
    )


class SharedRowExclusiveOnBoth(Rule):
    """Kept separate so the lock on the altered table itself is reported with its mode."""

    id = "MS105"
    title = "Foreign key creation blocks writes to the table"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    example = 'ALTER TABLE "order" ADD CONSTRAINT ... FOREIGN KEY ... ;'
    safe_alternative = "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT separately."

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            if statement.kind != "alter_table" or not context.is_existing(statement.table):
                continue
            for action in statement.actions:
                if action.kind == "add_constraint" and action.constraint == "foreign_key":
                    seconds = context.seconds(statement)
                    yield self.finding(
                        context,
                        f"Takes {SHARE_ROW_EXCLUSIVE} on {statement.table}: writes wait while "
                        "the constraint is added"
                        + ("" if action.not_valid else " and every existing row is checked")
                        + ".",
                        statements=[statement.sql],
                        tables=[statement.table],
                        lock=SHARE_ROW_EXCLUSIVE,
                        blocks_writes=True,
                        rows=context.rows(statement.table),
                        lock_seconds=seconds,
                        estimated_seconds=seconds,
                        severity=Severity.LOW
                        if action.not_valid
                        else max(
                            Severity.MEDIUM, severity_for_seconds(seconds, blocks_reads=False)
                        ),
                    )
