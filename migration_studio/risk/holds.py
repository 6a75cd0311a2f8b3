"""How long each table stays locked, and what waits meanwhile.

A lock is held until the end of its transaction. In a transactional migration (``up.sql`` between
BEGIN and COMMIT) that is the COMMIT: a lock taken by a quick ``ALTER TABLE`` is still held while
the later statements run, an index build Django defers to the end of the migration, a backfill,
a RunPython. Outside a transaction each statement commits alone and holds its locks only while it
runs.

:func:`lock_holds` walks the migration's forward statements in the order ``migrate`` runs them
(each operation's statements, then the deferred ones) and gives, per existing table, the strongest
lock and how long reads and writes of the table wait.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..sql.locks import BLOCKS_READS, BLOCKS_WRITES, stronger
from ..sql.reader import Statement, parse_all
from . import estimate

if TYPE_CHECKING:
    from .context import MigrationContext, OperationContext

#: What each kind of work is called in a sentence ("while <the index build on t> runs").
WORK_NAMES = {
    "index": "the index build on {table}",
    "rewrite": "the rewrite of {table}",
    "scan": "the scan of {table}",
    "backfill": "the UPDATE of {table}",
    "validate_fk": "the foreign key check of {table}",
    "copy": "the copy of {table}",
}


@dataclass
class Step:
    """One statement of the migration (or one Python operation), in the order it runs."""

    operation: int
    sql: str
    #: Estimated duration; None when unknown (the table's size, or Python code).
    seconds: float | None
    #: The time-consuming work it does, in words ("the index build on t"), or "" (metadata only).
    work: str = ""
    locks: dict[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.work or f"the Python code of operation {self.operation + 1}"

    @property
    def slow(self) -> bool:
        """Work that grows with a table, or of unknown duration."""
        return bool(self.work) or self.seconds is None


@dataclass
class Span:
    """How long one kind of access (reads, or writes) to a table waits."""

    #: The statement that took the first lock blocking this access, and its operation.
    operation: int
    statement: str
    #: Seconds from that statement's start to the lock's release; None when some duration is
    #: unknown (then :attr:`at_least` is the known part).
    seconds: float | None
    at_least: float
    #: The slow steps after the taking statement that the wait includes.
    later: list[Step] = field(default_factory=list)


@dataclass
class Hold:
    """The strongest lock the migration takes on one existing table, and what waits for it."""

    table: str
    mode: str
    operation: int
    statement: str
    rows: int | None
    reads: Span | None = None
    writes: Span | None = None

    def to_dict(self) -> dict[str, Any]:
        def span(value: Span | None) -> dict[str, Any] | None:
            if value is None:
                return None
            return {
                "operation": value.operation,
                "statement": value.statement,
                "seconds": value.seconds,
                "at_least_seconds": value.at_least,
                "while": [step.description for step in value.later],
            }

        return {
            "table": self.table,
            "lock": self.mode,
            "operation": self.operation,
            "statement": self.statement,
            "rows": self.rows,
            "reads_wait": span(self.reads),
            "writes_wait": span(self.writes),
        }


@dataclass
class LockHolds:
    holds: list[Hold]
    #: (operation, statement) -> {table: (mode, operation that took it)} held when it starts.
    held: dict[tuple[int, str], dict[str, tuple[str, int]]]

    def before(self, operation: int, sql: str, table: str | None) -> tuple[str, int] | None:
        """The strongest lock on ``table`` that the transaction holds when ``sql`` starts."""
        if table is None:
            return None
        return self.held.get((operation, sql), {}).get(table)


def steps(migration: MigrationContext) -> list[Step]:
    """The forward statements in the order ``migrate`` runs them, each with its duration."""
    contexts = migration.operations("forward")
    immediate: list[Step] = []
    deferred: list[Step] = []
    for context in contexts:
        if not context.op.expressible:
            immediate.append(Step(context.index, "", None))
            continue
        for texts, into in (
            (context.op.forward_sql, immediate),
            (context.op.deferred_forward_sql, deferred),
        ):
            for text in texts:
                for statement in parse_all(text):
                    into.append(_step(context, statement))
    return immediate + deferred


def _step(context: OperationContext, statement: Statement) -> Step:
    kind, table = context.work(statement)
    locks = {}
    for locked, mode in statement.locks().items():
        if statement.kind == "drop_index":
            locked = context.table_of(statement) or locked
        if context.is_existing(locked):
            locks[locked] = mode
    if kind is None:
        return Step(context.index, statement.sql, estimate.OVERHEAD, locks=locks)
    seconds = context.seconds(statement)
    work = WORK_NAMES[kind].format(table=table) if context.is_existing(table) else ""
    return Step(context.index, statement.sql, seconds, work, locks)


def lock_holds(migration: MigrationContext) -> LockHolds:
    transactional = migration.bundle.transactional
    ordered = steps(migration)
    taken: dict[str, tuple[str, int, int]] = {}  # table -> (mode, operation, step number)
    blocked: dict[tuple[str, str], Span] = {}  # (table, "reads"/"writes") -> span
    held: dict[tuple[int, str], dict[str, tuple[str, int]]] = {}
    for number, step in enumerate(ordered):
        if transactional:
            held.setdefault(
                (step.operation, step.sql),
                {table: (mode, operation) for table, (mode, operation, _) in taken.items()},
            )
        for table, mode in step.locks.items():
            current = taken.get(table)
            if current is None or stronger(current[0], mode) != current[0]:
                taken[table] = (mode, step.operation, number)
            for access, modes in (("reads", BLOCKS_READS), ("writes", BLOCKS_WRITES)):
                if mode not in modes:
                    continue
                span = _span(ordered, number, transactional)
                key = (table, access)
                if key not in blocked or (not transactional and _longer(span, blocked[key])):
                    blocked[key] = span
    holds = [
        Hold(
            table=table,
            mode=mode,
            operation=operation,
            statement=ordered[number].sql,
            rows=migration.rows(table),
            reads=blocked.get((table, "reads")),
            writes=blocked.get((table, "writes")),
        )
        for table, (mode, operation, number) in sorted(taken.items())
    ]
    return LockHolds(holds, held)


def _span(ordered: list[Step], number: int, transactional: bool) -> Span:
    """The wait caused by a lock taken at step ``number``: to COMMIT, or to the statement's end."""
    covered = ordered[number:] if transactional else [ordered[number]]
    known = sum(step.seconds for step in covered if step.seconds is not None)
    unknown = any(step.seconds is None for step in covered)
    return Span(
        operation=ordered[number].operation,
        statement=ordered[number].sql,
        seconds=None if unknown else known,
        at_least=known,
        later=[step for step in covered[1:] if step.slow],
    )


def _longer(a: Span, b: Span) -> bool:
    if b.seconds is None:
        return False
    return a.seconds is None or a.seconds > b.seconds
