"""Run a bundle SQL file on a database, statement by statement, as the database's client would:
timed, with the locks each statement takes on PostgreSQL (read from ``pg_locks``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from ..bundle import sqlfile
from ..bundle.model import Bundle
from .result import StatementRun, Step, ValidationFailed


class SQLFileRunner:
    """Runs ``up.sql`` or ``down.sql`` on ``connection`` (the scratch database of ``alias``)."""

    def __init__(self, connection: BaseDatabaseWrapper, alias: str) -> None:
        self.connection = connection
        self.alias = alias
        #: The operation whose section the last statement run belongs to (after a failure: the
        #: one that failed).
        self.operation: int | None = None
        self._held: set[tuple[str, str]] | None = None

    def run(
        self,
        text: str,
        bundle: Bundle,
        step: Step,
        *,
        track_locks: bool,
        run_python: Callable[[int], None],
    ) -> None:
        """Run the file ``text`` of ``bundle``, recording each statement in ``step``.

        Operations SQL cannot express (RunPython) are run by ``run_python(index)`` where their
        marked block stands; the statements recorded from their own run are not run again.
        """
        operations = {op.index: op for op in bundle.operations}
        vendor = self.connection.vendor
        # The file's BEGIN and COMMIT go through Django's transaction management, so that code run
        # inside (RunPython, with its own transaction.atomic) sees the transaction Django is in.
        # Within the in-place validation's transaction, they are a savepoint of it.
        with contextlib.ExitStack() as bundle_transaction:
            in_transaction = False
            for entry in sqlfile.read(text, vendor):
                self.operation = entry.operation
                op = operations.get(entry.operation) if entry.operation is not None else None
                if isinstance(entry, sqlfile.Marker):
                    if op is not None and not op.expressible and not entry.deferred:
                        run_python(op.index)
                    continue
                keyword = entry.keyword
                boundary = keyword in ("BEGIN", "COMMIT")
                if op is not None and not op.expressible and not boundary:
                    # Recorded from the operation's own run: running it through Django (above)
                    # executes these statements again, so the recorded copies are not run.
                    continue
                owner = None if boundary or keyword == "PRAGMA" else entry.operation
                if keyword == "BEGIN":
                    started = time.perf_counter()
                    bundle_transaction.enter_context(transaction.atomic(using=self.alias))
                    run = StatementRun(entry.sql, time.perf_counter() - started)
                    in_transaction = True
                elif keyword == "COMMIT":
                    started = time.perf_counter()
                    try:
                        bundle_transaction.close()
                    except DatabaseError as error:
                        raise ValidationFailed(
                            f"This statement failed: {entry.sql}\n  {vendor} said: "
                            f"{first_line(error)}"
                        ) from None
                    run = StatementRun(entry.sql, time.perf_counter() - started)
                    in_transaction = False
                else:
                    run = self.execute(entry.sql, owner, track_locks and in_transaction)
                step.statements.append(run)

    def execute(self, sql: str, operation: int | None, track_locks: bool) -> StatementRun:
        """Run one statement; with ``track_locks``, note the locks it added (PostgreSQL)."""
        connection = self.connection
        if track_locks and self._held is None:
            self._held = held_locks(connection)
        before = self._held or set()
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        except DatabaseError as error:
            raise ValidationFailed(
                f"This statement failed: {sql}\n  {connection.vendor} said: {first_line(error)}"
            ) from None
        seconds = time.perf_counter() - started
        taken: list[tuple[str, str, str]] = []
        if track_locks:
            self._held = held_locks(connection)
            taken = sorted(self._held - before)
        return StatementRun(
            sql,
            seconds,
            operation,
            [{"relation": relation, "mode": mode, "kind": kind} for relation, mode, kind in taken],
        )


#: What the lock is on, by ``pg_class.relkind``.
RELATION_KINDS = {
    "r": "table",
    "p": "table",
    "i": "index",
    "I": "index",
    "m": "materialized view",
    "v": "view",
    "S": "sequence",
    "f": "foreign table",
}


def held_locks(connection: BaseDatabaseWrapper) -> set[tuple[str, str, str]]:
    """(relation, lock mode, kind: table, index ...) for every relation lock this PostgreSQL
    session holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, l.mode, c.relkind FROM pg_locks l "
            "JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = pg_backend_pid() "
            "AND l.locktype = 'relation' AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema', 'pg_toast')"
        )
        return {
            (name, mode.replace("Lock", ""), RELATION_KINDS.get(kind, "other"))
            for name, mode, kind in cursor.fetchall()
        }


def first_line(error: BaseException) -> str:
    """The first line of an error's message (drivers add context lines below it)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
