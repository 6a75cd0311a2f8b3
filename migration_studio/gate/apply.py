"""``predeploycheck --apply``: apply the plan the gate judged, guarded.

Every statement runs with a short lock timeout and a statement timeout (PostgreSQL: session
settings, so RunSQL and RunPython are bounded too; SQLite: the busy timeout and an interrupt). A
statement that gives up waiting for a lock is tried again after a pause that doubles each time, up
to a number of attempts: an atomic migration as a whole (its transaction was rolled back), a
statement of a non-atomic migration on its own (the statements before it are committed). After each
migration the bundle's ``checks.sql`` runs on the data. When retries run out, a statement fails or
a check finds violating rows, the migrations this run applied are unapplied, newest first, through
Django's executor: the database is left as it was before the run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import Migration
from django.db.migrations.executor import MigrationExecutor

from ..bundle.checksfile import parse as parse_checks
from ..capture.graph import Node
from ..validation.checking import violations

#: What an apply step ended as.
APPLIED, FAILED, ROLLED_BACK, NOT_RUN = "applied", "failed", "rolled back", "not run"


@dataclass
class ApplySettings:
    lock_timeout: float = 0.5
    statement_timeout: float | None = None
    #: Attempts per migration (atomic) or statement (non-atomic) that wait for a lock.
    attempts: int = 5
    #: The first pause between attempts, in seconds; it doubles each time (30 s at most).
    backoff: float = 1.0


@dataclass
class Step:
    migration: str
    status: str = NOT_RUN
    attempts: int = 0
    seconds: float = 0.0
    error: str = ""
    #: Statements of a failed migration that ran and stayed (non-atomic, or DDL that commits).
    committed: list[str] = field(default_factory=list)


@dataclass
class ApplyReport:
    steps: list[Step] = field(default_factory=list)
    #: "applied", "rolled back" (the database is as before the run) or "failed" (it is not).
    outcome: str = APPLIED
    reason: str = ""
    rollback_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _LockTimedOut(Exception):
    pass


def apply_plan(
    database: str,
    plan: list[Node],
    checks: dict[Node, Path],
    settings: ApplySettings,
    log: Callable[[str], None] = lambda line: None,
) -> ApplyReport:
    """Apply ``plan`` (nodes, in order) on ``database``; ``checks``: node -> its checks.sql."""
    connection = connections[database]
    report = ApplyReport(steps=[Step(f"{app}.{name}") for app, name in plan])
    executor = MigrationExecutor(connection)
    before = set(executor.loader.applied_migrations)
    with _guarded(connection, settings) as guard:
        state = executor._create_project_state(with_applied_migrations=True)
        for node, step in zip(plan, report.steps, strict=True):
            migration = executor.loader.graph.nodes[node]
            started = time.monotonic()
            try:
                state = _apply_one(executor, state, migration, step, guard, settings, log)
                problem = _post_checks(connection, checks.get(node), migration)
            except (_LockTimedOut, DatabaseError) as error:
                step.status = FAILED
                step.error = str(error) if isinstance(error, _LockTimedOut) else _first(error)
                step.committed = _committed(connection, migration, guard.ran)
                report.reason = f"{step.migration}: {step.error}"
            else:
                step.status = APPLIED
                if problem:
                    step.error = problem
                    report.reason = f"{step.migration}: {problem}"
            step.seconds = time.monotonic() - started
            log(
                f"  {step.migration}: {step.status} ({step.attempts} attempt(s), "
                f"{step.seconds:.1f}s)"
            )
            if report.reason:
                break
        if report.reason:
            _roll_back(connection, before, report, guard, settings, log)
    return report


def _apply_one(
    executor: MigrationExecutor,
    state: Any,
    migration: Migration,
    step: Step,
    guard: _Guard,
    settings: ApplySettings,
    log: Callable[[str], None],
) -> Any:
    """Apply ``migration``, retrying an atomic one as a whole when it waits too long for a lock."""
    retried_as_a_whole = migration.atomic and executor.connection.features.can_rollback_ddl
    while True:
        step.attempts += 1
        guard.ran = []
        try:
            return executor.apply_migration(state.clone(), migration)
        except DatabaseError as error:
            if not (_waited_for_lock(error) and retried_as_a_whole):
                if _waited_for_lock(error):
                    raise _LockTimedOut(
                        f"a statement waited more than {settings.lock_timeout:g}s for a lock "
                        f"{guard.attempts_of_last} time(s): {_first(error)}"
                    ) from None
                raise
            if step.attempts >= settings.attempts:
                raise _LockTimedOut(
                    f"waited more than {settings.lock_timeout:g}s for a lock in each of "
                    f"{step.attempts} attempt(s): {_first(error)}"
                ) from None
            pause = _pause(settings, step.attempts)
            log(f"  {step.migration}: a lock was not granted in time; again in {pause:g}s")
            time.sleep(pause)


def _post_checks(connection: BaseDatabaseWrapper, path: Path | None, migration: Migration) -> str:
    """The bundle's checks on the data the migration left: '' when every one passes."""
    if path is None or not path.exists():
        return ""
    failed = []
    for check in parse_checks(path.read_text(encoding="utf-8"), connection.vendor):
        with connection.cursor() as cursor:
            count, _ = violations(cursor, check)
        if count:
            failed.append(f"{check.description}: {count:,} violating row(s)")
    return ("checks.sql after the migration: " + "; ".join(failed)) if failed else ""


def _roll_back(
    connection: BaseDatabaseWrapper,
    before: set[Node],
    report: ApplyReport,
    guard: _Guard,
    settings: ApplySettings,
    log: Callable[[str], None],
) -> None:
    """Unapply what this run applied, newest first, retrying on locks like the forward run."""
    log("Rolling back to the state before the run:")
    attempt = 0
    while True:
        attempt += 1
        executor = MigrationExecutor(connection)
        applied = set(executor.loader.applied_migrations)
        added = applied - before
        if not added:
            break
        targets = _targets_before(executor, before, added)
        try:
            executor.migrate(targets)
        except DatabaseError as error:
            if _waited_for_lock(error) and attempt < settings.attempts:
                time.sleep(_pause(settings, attempt))
                continue
            report.outcome = FAILED
            report.rollback_error = _first(error)
            log(f"  the rollback failed: {report.rollback_error}")
            return
    for step in report.steps:
        if step.status == APPLIED:
            step.status = ROLLED_BACK
    partial = any(step.committed for step in report.steps)
    report.outcome = FAILED if partial else ROLLED_BACK
    if partial:
        report.rollback_error = (
            "statements of the failed migration that ran outside a transaction stay applied "
            "(listed with it): undo them with the matching part of its down.sql"
        )


def _targets_before(
    executor: MigrationExecutor, before: set[Node], added: set[Node]
) -> list[tuple[str, str | None]]:
    """``migrate`` targets that unapply ``added`` and nothing else: per app of ``added``, its
    last migration applied before the run (None: none was)."""
    graph = executor.loader.graph
    targets = []
    for app in sorted({node[0] for node in added}):
        earlier = [node for node in before if node[0] == app and node in graph.nodes]
        latest = None
        for node in earlier:  # the one every other applied migration of the app precedes
            ancestors = set(graph.forwards_plan(node))
            if all(other in ancestors for other in earlier):
                latest = node
        targets.append((app, latest[1] if latest else None))
    return targets


class _Guard:
    """Bounds and retries for every statement the run executes (an execute wrapper)."""

    def __init__(self, connection: BaseDatabaseWrapper, settings: ApplySettings) -> None:
        self.connection = connection
        self.settings = settings
        self.deadline: float | None = None
        self.ran: list[str] = []
        self.attempts_of_last = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        attempt = 0
        while True:
            attempt += 1
            self.attempts_of_last = attempt
            timeout = self.settings.statement_timeout
            self.deadline = time.monotonic() + timeout if timeout else None
            try:
                result = execute(sql, params, many, context)
            except DatabaseError as error:
                # Outside a transaction the statement alone is tried again; inside one, the
                # transaction is aborted: the caller retries it whole.
                if (
                    _waited_for_lock(error)
                    and not self.connection.in_atomic_block
                    and attempt < self.settings.attempts
                ):
                    time.sleep(_pause(self.settings, attempt))
                    continue
                raise
            finally:
                self.deadline = None
            self.ran.append(str(sql))
            return result


@contextlib.contextmanager
def _guarded(connection: BaseDatabaseWrapper, settings: ApplySettings) -> Iterator[_Guard]:
    guard = _Guard(connection, settings)
    connection.ensure_connection()
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"SET lock_timeout = {_ms(settings.lock_timeout)}")
            cursor.execute(f"SET statement_timeout = {_ms(settings.statement_timeout or 0)}")
        elif vendor == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {_ms(settings.lock_timeout)}")
            connection.connection.set_progress_handler(
                lambda: int(guard.deadline is not None and time.monotonic() > guard.deadline),
                1000,
            )
        elif vendor == "mysql":
            cursor.execute(
                "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s",
                [max(1, round(settings.lock_timeout))] * 2,
            )
    try:
        with connection.execute_wrapper(guard):
            yield guard
    finally:
        with contextlib.suppress(Exception), connection.cursor() as cursor:
            if vendor == "postgresql":
                cursor.execute("RESET lock_timeout")
                cursor.execute("RESET statement_timeout")
            elif vendor == "sqlite":
                connection.connection.set_progress_handler(None, 0)


def _waited_for_lock(error: BaseException) -> bool:
    """The error says a lock was not granted in time (PostgreSQL 55P03, SQLite's busy database,
    MySQL/MariaDB 1205)."""
    cause = error.__cause__ or error
    if getattr(cause, "sqlstate", None) == "55P03" or getattr(cause, "pgcode", None) == "55P03":
        return True
    args = getattr(cause, "args", ())
    if args and args[0] == 1205:
        return True
    return "database is locked" in str(error) or "lock timeout" in str(error).lower()


def _committed(connection: BaseDatabaseWrapper, migration: Migration, ran: list[str]) -> list[str]:
    """What stays of a failed migration: every statement that ran when it was not one
    transaction that the failure rolled back."""
    transactional = migration.atomic and connection.features.can_rollback_ddl
    return [] if transactional else list(ran)


def _pause(settings: ApplySettings, attempt: int) -> float:
    return min(settings.backoff * 2 ** (attempt - 1), 30.0)


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _first(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)
