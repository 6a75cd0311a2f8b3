"""Prove a bundle on a scratch database: up, checks, down, schema restored, up again.

The steps (each timed and reported as it runs):

1. freshness: the migration file and the SQL files still match the hashes in bundle.json;
2. scratch: a scratch database at the migration's parent state (the capture machinery and cache);
3. sample: optionally, real rows copied from another database (read-only);
4. up: ``up.sql`` executed exactly as bundled, statement by statement; operations SQL cannot
   express (RunPython) run through Django at their place; on PostgreSQL the locks each statement
   takes are read from ``pg_locks`` before the transaction commits;
5. checks: every query of ``checks.sql``, with the count and a sample of violating rows; the
   queries that can already run on the parent state (new constraints on existing columns) also
   run before ``up.sql`` ("precheck"), so data that would make it fail is reported with counts;
6. down: ``down.sql``, then the schema is compared with the parent snapshot;
7. redeploy: ``up.sql`` again;
8. the scratch database is dropped, whatever happened.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import DatabaseError, migrations, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import Migration
from django.db.migrations.state import ProjectState

from ..bundle import sqlfile
from ..bundle.checksfile import parse as parse_checks
from ..bundle.model import Bundle, sha256
from ..bundle.store import load_bundle
from ..capture.graph import History, ancestors, migration_source, preceding
from ..capture.session import CaptureSession, NeedsMigrateOrder, rolled_back
from ..describe import describe_callable
from ..exceptions import ValidationEnvironmentError
from ..scratch.database import ScratchDatabase
from ..sql.reader import parse_all
from ..sql.text import fills_rows, quoted_identifiers
from .objects import Objects, compare_objects, database_objects
from .result import (
    FAILED,
    SKIPPED,
    CheckResult,
    StatementRun,
    Step,
    ValidationFailed,
    ValidationResult,
    content_hash,
)
from .runner import SQLFileRunner, first_line
from .sample import copy_sample
from .schema import compare, quick_snapshot

SAMPLE_LIMIT = 5


class Validator:
    """Runs the steps for one bundle; ``log`` is told about each step as it ends."""

    def __init__(
        self,
        path: Path,
        alias: str,
        *,
        sample_from: str | None = None,
        sample_rows: int = 0,
        use_cache: bool = True,
        log: Callable[[Step], None] | None = None,
        history: History | None = None,
    ) -> None:
        self.path = Path(path)
        self.alias = alias
        self.sample_from = sample_from
        self.sample_rows = sample_rows
        self.use_cache = use_cache
        self.log = log or (lambda step: None)
        self.bundle: Bundle = load_bundle(self.path)
        self.result = ValidationResult(
            label=self.bundle.label,
            started_at=_now(),
            vendor=self.bundle.vendor,
            content_sha256=content_hash(self.path),
        )
        # The migration graph from the files (shared by the bundles of one run); the replaced
        # migrations' graph for the bundle of a migration a squash replaces.
        history = history or History()
        node = (self.bundle.app_label, self.bundle.migration_name)
        self.loader = history.loader_for(node) or history.squashed
        self.migration: Migration | None = None
        self.touched: set[str] = set()
        #: The operation whose part of a SQL file runs (for the messages).
        self._operation: int | None = None

    def run(self) -> ValidationResult:
        vendor = ScratchDatabase(self.alias, use_cache=False).source.vendor
        if vendor != self.bundle.vendor:
            raise ValidationEnvironmentError(
                f"{self.bundle.label} was captured on {self.bundle.vendor}; validate it with a "
                f"{self.bundle.vendor} database (--database), not {vendor}."
            )
        try:
            self._freshness()
            node = (self.bundle.app_label, self.bundle.migration_name)
            # A transactional bundle is validated in the cached parent state itself, inside a
            # transaction that is rolled back (PostgreSQL; no copy of the database).
            in_place = self.bundle.transactional and not self.sample_from
            # The parent state from the migration's dependencies; for a history whose models do
            # not fit together that way (an undeclared dependency), from every migration that
            # ``migrate`` applies before it, as capture does.
            for everything_before in (False, True):
                base = (preceding if everything_before else ancestors)(self.loader, node)
                try:
                    with (
                        ScratchDatabase(self.alias, use_cache=self.use_cache) as scratch,
                        CaptureSession(
                            scratch,
                            self.loader,
                            base,
                            in_place=in_place,
                            everything_before=everything_before,
                        ) as session,
                    ):
                        if everything_before or session.renders():
                            self._on_scratch(scratch, session)
                            break
                except NeedsMigrateOrder:
                    continue
        except ValidationFailed as failure:
            self.result.status = FAILED
            self.result.error = str(failure)
        self.result.finished_at = _now()
        return self.result

    # -- steps ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[Step]:
        """Time a step, record it, tell the log, and mark it failed when it raises."""
        current = Step(name)
        started = time.perf_counter()
        self.result.steps.append(current)
        try:
            yield current
        except ValidationFailed as failure:
            current.status = FAILED
            current.detail = str(failure)
            raise
        finally:
            current.seconds = time.perf_counter() - started
            self.log(current)

    def _freshness(self) -> None:
        with self._step("freshness") as step:
            node = (self.bundle.app_label, self.bundle.migration_name)
            self.migration = self.loader.graph.nodes.get(node)
            if self.migration is None:
                raise ValidationFailed(
                    f"Migration {self.bundle.label} does not exist any more: remove its bundle."
                )
            stale = []
            if sha256(migration_source(self.migration)) != self.bundle.hashes.get("migration"):
                stale.append("the migration file")
            for name in ("up.sql", "down.sql"):
                file = self.path / name
                if not file.exists() or sha256(
                    file.read_text(encoding="utf-8")
                ) != self.bundle.hashes.get(name):
                    stale.append(name)
            if stale:
                raise ValidationFailed(
                    f"Stale bundle, regenerate it (manage.py bundlemigration "
                    f"{self.bundle.app_label} {self.bundle.migration_name}): "
                    f"{' and '.join(stale)} changed since it was written."
                )
            step.detail = "migration file, up.sql and down.sql match bundle.json"

    def _on_scratch(self, scratch: ScratchDatabase, session: CaptureSession) -> None:
        connection = scratch.connection
        assert connection is not None and session.state is not None
        self.result.server_version = session.server_version
        self.touched = self._touched_tables()
        with self._step("scratch") as step:
            step.detail = f"scratch database at the parent state ({session.origin})"
            parent = quick_snapshot(connection, only=self.touched)
            migrated, why_not = self._migrate_schema(connection, session.state)
        if self.sample_from:
            with self._step("sample") as step:
                session._activation.close()  # the source alias must reach the real source
                try:
                    copied = copy_sample(self.sample_from, connection, self.sample_rows)
                except DatabaseError as error:
                    raise ValidationEnvironmentError(
                        f"Copying sample rows from '{self.sample_from}' failed: "
                        f"{first_line(error)} (is its schema at the bundle's parent state?)"
                    ) from None
                finally:
                    session._activate()
                self.result.sample_rows = copied.total
                self.result.sample_tables = copied.rows
                self.result.sample_rows_per_second = copied.rows_per_second
                step.detail = (
                    f"{copied.total} row(s) from {len(copied.rows)} table(s) of "
                    f"'{self.sample_from}' ({copied.rows_per_second:,.0f} rows/s)"
                )
        states = self._states(session.state)
        with self._step("precheck") as step:
            self._checks(connection, step, before_up=True, known=_identifiers_of(parent))
        with self._step("up") as step:
            self._run_file(connection, "up.sql", step, states, forwards=True)
            if migrated is None:
                step.detail = f"not compared with manage.py migrate's schema: {why_not}"
            else:
                tables, objects = migrated
                comparison = compare(tables, quick_snapshot(connection, only=self.touched))
                differences = comparison.differences + comparison.renamed
                differences += compare_objects(objects, database_objects(connection))
                if differences:
                    raise ValidationFailed(
                        "up.sql does not give the schema manage.py migrate gives for this "
                        "migration (migrate's, then up.sql's):\n  " + "\n  ".join(differences)
                    )
                step.detail = "the schema is the one manage.py migrate gives"
        with self._step("checks") as step:
            self._checks(connection, step)
        if not self.bundle.reversible:
            # Django cannot unapply it either (IrreversibleError): there is no rollback to prove.
            why = "; ".join(self.bundle.irreversible_reasons)
            for name, detail in (
                ("down", f"not run: the migration is irreversible ({why})"),
                ("redeploy", "not run: it follows the rollback, which the migration has not"),
            ):
                with self._step(name) as step:
                    step.status, step.detail = SKIPPED, detail
            return
        with self._step("down") as step:
            self._run_file(connection, "down.sql", step, states, forwards=False)
            after = quick_snapshot(connection, only=self.touched)
            comparison = compare(parent, after)
            self.result.schema_diff = comparison.differences
            self.result.schema_renamed = comparison.renamed
            if self.result.schema_diff:
                raise ValidationFailed(
                    "down.sql did not restore the parent schema:\n  "
                    + "\n  ".join(self.result.schema_diff + comparison.renamed)
                )
            if comparison.renamed:
                step.detail = (
                    f"the parent schema is restored, but {len(comparison.renamed)} constraint(s) "
                    "or index(es) under another name, as Django's own rollback recreates them "
                    "(same definition):\n" + "\n".join(comparison.renamed)
                )
        with self._step("redeploy") as step:
            try:
                self._run_file(connection, "up.sql", step, states, forwards=True)
            except ValidationFailed as failure:
                note = self._renamed_note(str(failure)) or self._rerun_note()
                raise ValidationFailed(f"{failure}{note}") from None
            step.detail = "up.sql applies again after the rollback"

    def _migrate_schema(
        self, connection: BaseDatabaseWrapper, parent: ProjectState
    ) -> tuple[tuple[dict[str, Any], Objects] | None, str]:
        """The schema ``manage.py migrate`` gives for the migration, from the parent state: its
        tables and every other object (functions, triggers, views, types ...), applied through
        Django in a transaction that is rolled back. (None, why) where DDL cannot be rolled back
        (MySQL) or the migration cannot run in one transaction.

        The migration's own SQL and Python (RunSQL, RunPython, third-party operations) run too:
        nothing they change in the database outlives the rollback but sequence values, which
        are not schema (what a RunPython does outside the database is done once more)."""
        assert self.migration is not None
        if not connection.features.can_rollback_ddl:
            return None, f"{connection.vendor} cannot roll DDL back"
        if not self.bundle.transactional:
            return None, "the migration cannot run in one transaction (non-atomic or CONCURRENTLY)"
        try:
            with rolled_back(connection):
                with connection.schema_editor(atomic=self.migration.atomic) as editor:
                    self.migration.apply(parent.clone(), editor)
                tables = quick_snapshot(connection, only=self.touched)
                return (tables, database_objects(connection)), ""
        except Exception as error:  # the migration's own code may raise anything
            return None, f"manage.py migrate fails on the parent state ({first_line(error)})"

    def _touched_tables(self) -> set[str]:
        """Every table the bundle's SQL or operations name: the only ones it can change.

        The SQL files are read too: an edited up.sql may change a table bundle.json does not
        name (its hash updated), which the comparison with migrate's schema must see."""
        tables: set[str] = set()
        texts: list[str] = []
        for name in ("up.sql", "down.sql"):
            file = self.path / name
            if file.exists():
                entries = sqlfile.read(file.read_text(encoding="utf-8"), self.bundle.vendor)
                texts.extend(e.sql for e in entries if not isinstance(e, sqlfile.Marker))
        for op in self.bundle.operations:
            facts = op.operation_facts
            tables.update(t for t in (facts.table_before, facts.table_after) if t)
            tables.update(facts.referenced_by)
            texts.extend(op.all_forward_sql + op.all_reverse_sql)
        for text in texts:
            for statement in parse_all(text):
                for name in (statement.table, *statement.references):
                    if name:
                        tables.add(name.removeprefix("new__"))
                tables.update(a.references for a in statement.actions if a.references)
        return tables

    def _states(self, parent: ProjectState) -> list[ProjectState]:
        """The project state before each operation, and after the last."""
        assert self.migration is not None
        states = [parent]
        for operation in self.migration.operations:
            state = states[-1].clone()
            operation.state_forwards(self.migration.app_label, state)
            states.append(state)
        return states

    def _checks(
        self,
        connection: BaseDatabaseWrapper,
        step: Step,
        before_up: bool = False,
        known: set[str] | None = None,
    ) -> None:
        """Run checks.sql; before up, only the checks whose names all exist already."""
        file = self.path / "checks.sql"
        text = file.read_text(encoding="utf-8") if file.exists() else ""
        checks = parse_checks(text, self.bundle.vendor)
        phase = "before up" if before_up else "after up"
        ran: list[CheckResult] = []
        for check in checks:
            if known is not None and not quoted_identifiers(check.sql) <= known:
                continue  # it needs what up.sql creates: it runs after up
            result = CheckResult(check.description, check.sql, 0, phase=phase)
            try:
                with transaction.atomic(using=self.alias), connection.cursor() as cursor:
                    # (on a line of its own: the query may end with a -- comment)
                    cursor.execute(f"SELECT COUNT(*) FROM ({check.sql}\n) violations")
                    result.violations = int(cursor.fetchone()[0])
                    if result.violations:
                        cursor.execute(
                            f"SELECT * FROM ({check.sql}\n) violations LIMIT {SAMPLE_LIMIT}"
                        )
                        result.sample = [list(row) for row in cursor.fetchall()]
            except DatabaseError as error:
                if before_up:
                    continue
                result.error = first_line(error)
            ran.append(result)
        self.result.checks.extend(ran)
        failed = [c for c in ran if not c.passed]
        step.detail = f"{len(ran) - len(failed)} of {len(ran)} check(s) passed" + (
            " on the parent state's data" if before_up else ""
        )
        if not failed:
            return
        reasons = "; ".join(
            f"{c.description}: {c.error or f'{c.violations} violating row(s)'}" for c in failed
        )
        if before_up and self._changes_data():
            # The migration's own data steps may fix these rows: report, and let up.sql decide.
            step.detail += f"; to be fixed by the migration's data steps: {reasons}"
            return
        raise ValidationFailed(
            (
                "The data breaks the migration's promises: "
                if before_up
                else "Validation checks failed: "
            )
            + reasons
        )

    def _changes_data(self) -> bool:
        """The migration runs Python or SQL of its own, or backfills rows (UPDATE)."""
        return any(
            (op.operation == "RunPython" and not op.expressible)
            or op.operation == "RunSQL"
            or any(fills_rows(s) for s in op.all_forward_sql)
            for op in self.bundle.operations
        )

    # -- running SQL files ----------------------------------------------------------------------

    def _run_file(
        self,
        connection: BaseDatabaseWrapper,
        name: str,
        step: Step,
        states: list[ProjectState],
        *,
        forwards: bool,
    ) -> None:
        runner = SQLFileRunner(connection, self.alias)
        try:
            runner.run(
                (self.path / name).read_text(encoding="utf-8"),
                self.bundle,
                step,
                # Locks are measured on the deploy itself (the first up.sql): later steps re-take
                # locks the validation transaction may already hold.
                track_locks=connection.vendor == "postgresql" and step.name == "up",
                run_python=lambda index: self._python(
                    connection, step, index, states, forwards=forwards
                ),
            )
        finally:
            self._operation = runner.operation

    def _renamed_note(self, failure: str) -> str:
        """Why up.sql cannot run again when the rollback recreated what it drops by name."""
        renamed = [
            line
            for line in self.result.schema_renamed
            if any(f" {name} is now " in line for name in quoted_identifiers(failure))
        ]
        if not renamed:
            return ""
        return (
            f"\n  down.sql recreated what up.sql drops by name under another name, as Django's "
            f"own rollback does ({'; '.join(line.lstrip('= ') for line in renamed)}): the SQL "
            "files cannot be applied again after their own rollback, while manage.py migrate "
            "can (it looks the names up). Regenerate the bundle after a rollback, or deploy "
            "with migrate."
        )

    def _rerun_note(self) -> str:
        """Why applying again fails when the failing operation's reverse left its data behind.

        up.sql and down.sql are the statements ``migrate`` runs and data steps run through Django
        as under ``migrate``: a redeploy that fails in a data step fails the same way under
        ``migrate`` forwards, backwards, forwards.
        """
        assert self.migration is not None
        index = self._operation
        if index is None or index >= len(self.migration.operations):
            return ""
        operation = self.migration.operations[index]
        label = f"Operation {index + 1} ({operation.describe()})"
        if (
            isinstance(operation, migrations.RunPython)
            and operation.reverse_code is migrations.RunPython.noop
        ) or (isinstance(operation, migrations.RunSQL) and operation.reverse_sql in ("", [], ())):
            why = f"{label} has a no-op reverse: what its first run wrote is still there"
        elif isinstance(operation, migrations.RunPython) and operation.reverse_code:
            why = (
                f"{label} runs again after its reverse "
                f"({describe_callable(operation.reverse_code)}), which left what its first run "
                "wrote"
            )
        else:
            return ""
        return (
            f"\n  {why} after the rollback, so applying the migration again fails the same way "
            "under manage.py migrate (forwards, backwards, forwards). Rows left behind are not a "
            "schema difference; make the operation idempotent or give it a reverse that undoes "
            "it to be able to redeploy after a rollback."
        )

    def _python(
        self,
        connection: BaseDatabaseWrapper,
        step: Step,
        index: int,
        states: list[ProjectState],
        *,
        forwards: bool,
    ) -> None:
        """Run a RunPython operation through Django, where its marked block stands."""
        assert self.migration is not None
        operation = self.migration.operations[index]
        if not forwards and not operation.reversible:
            return
        started = time.perf_counter()
        cause: Exception | None = None
        try:
            with connection.schema_editor(atomic=False) as editor:
                try:
                    if forwards:
                        operation.database_forwards(
                            self.migration.app_label, editor, states[index], states[index + 1]
                        )
                    else:
                        operation.database_backwards(
                            self.migration.app_label, editor, states[index + 1], states[index]
                        )
                except Exception as error:
                    cause = error  # leaving the editor may raise another error because of it
                    raise
        except Exception as error:  # the user's Python code: any error is a failed step
            error = cause or error
            raise ValidationFailed(
                f"Operation {index + 1} ({operation.describe()}) failed: "
                f"{type(error).__name__}: {first_line(error)}"
            ) from None
        step.statements.append(
            StatementRun(
                f"-- {type(operation).__name__}: {operation.describe()}",
                time.perf_counter() - started,
                index,
            )
        )


def _identifiers_of(schema: dict[str, Any]) -> set[str]:
    """Every table and column name of a schema snapshot."""
    names = set(schema)
    for table in schema.values():
        names.update(table["columns"])
    return names


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
