"""The target database, read under guard: a read-only transaction in which every query carries a
lock timeout and a statement timeout, so a session holding a lock cannot hang the pipeline.

PostgreSQL makes the transaction read-only itself (``SET TRANSACTION READ ONLY``) and bounds each
statement with ``SET LOCAL lock_timeout`` / ``statement_timeout``; SQLite with
``PRAGMA query_only`` and an interrupt once the statement timeout has passed; MySQL/MariaDB with
``max_execution_time`` and ``lock_wait_timeout`` for the session (restored afterwards). Each query
runs in a savepoint: one that times out is reported and the others still run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from ..exceptions import GateError
from .policy import Policy

T = TypeVar("T")


class QueryFailed(Exception):
    """A query of the gate failed or timed out: ``str()`` is one sentence saying which."""


class Target:
    """Queries on the target database, inside :func:`guarded`."""

    def __init__(self, alias: str, connection: BaseDatabaseWrapper, policy: Policy) -> None:
        self.alias = alias
        self.connection = connection
        self.policy = policy
        self.deadline: float | None = None

    @property
    def vendor(self) -> str:
        return self.connection.vendor

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        """The rows of ``sql``; :class:`QueryFailed` when it fails or runs out of time."""

        def rows(cursor: Any) -> list[tuple]:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

        return self.run(rows)

    def run(self, work: Callable[[Any], T]) -> T:
        """``work(cursor)`` in a savepoint, its statements bounded; :class:`QueryFailed` when one
        fails or runs out of time (the savepoint is rolled back, the session goes on)."""
        try:
            with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
                self.deadline = time.monotonic() + self.policy.statement_timeout
                return work(cursor)
        except DatabaseError as error:
            raise QueryFailed(self._why(error)) from None
        finally:
            self.deadline = None

    def _why(self, error: DatabaseError) -> str:
        text = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        lowered = text.lower()
        if "lock timeout" in lowered or "lock wait timeout" in lowered:
            return f"waited more than {self.policy.lock_timeout:g}s for a lock ({text})"
        if (
            "statement timeout" in lowered
            or "interrupted" in lowered
            or "max_execution" in (lowered.replace(" ", "_"))
        ):
            return f"ran longer than {self.policy.statement_timeout:g}s ({text})"
        return text


@contextlib.contextmanager
def guarded(alias: str, policy: Policy) -> Iterator[Target]:
    """A :class:`Target` on ``alias``: read-only, each statement bounded, rolled back at the end."""
    try:
        connection = connections[alias]
    except Exception:
        raise GateError(f"There is no database '{alias}' in DATABASES.") from None
    try:
        connection.ensure_connection()
    except DatabaseError as error:
        raise GateError(f"Cannot connect to database '{alias}': {_first(error)}") from None
    target = Target(alias, connection, policy)
    restore = _session_settings(target)
    try:
        with transaction.atomic(using=alias):
            _transaction_settings(target)
            try:
                yield target
            finally:
                transaction.set_rollback(True, using=alias)
    finally:
        restore()


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _transaction_settings(target: Target) -> None:
    connection, policy = target.connection, target.policy
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL lock_timeout = {_ms(policy.lock_timeout)}")
            cursor.execute(f"SET LOCAL statement_timeout = {_ms(policy.statement_timeout)}")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA query_only = ON")


def _session_settings(target: Target) -> Any:
    """Settings that outlive a transaction; returns what undoes them."""
    connection, policy = target.connection, target.policy
    if connection.vendor == "sqlite":
        raw = connection.connection
        # SQLite calls it every 1,000 virtual machine steps: non-zero interrupts the statement.
        raw.set_progress_handler(
            lambda: int(target.deadline is not None and time.monotonic() > target.deadline), 1000
        )

        def restore() -> None:
            with contextlib.suppress(Exception):
                raw.set_progress_handler(None, 0)
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA query_only = OFF")

        return restore
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout")
            before = cursor.fetchone()
            cursor.execute(
                "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s",
                [max(1, round(policy.lock_timeout)), max(1, round(policy.lock_timeout))],
            )
            with contextlib.suppress(DatabaseError):  # MySQL's name; MariaDB's is below
                cursor.execute(f"SET SESSION max_execution_time = {_ms(policy.statement_timeout)}")
            with contextlib.suppress(DatabaseError):
                cursor.execute(f"SET SESSION max_statement_time = {policy.statement_timeout:g}")
            cursor.execute("SET SESSION TRANSACTION READ ONLY")

        def restore() -> None:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute(
                    "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s", before
                )
                cursor.execute("SET SESSION TRANSACTION READ WRITE")

        return restore
    return lambda: None


def _first(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)
