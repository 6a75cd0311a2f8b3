"""Prove a bundle on a scratch database: up, checks, down, schema restored, up again.

The steps (each timed and reported as it runs):

1. freshness: the migration file and the SQL files still match the hashes in bundle.json;
2. scratch: a scratch database at the migration's parent state (the capture machinery and cache);
3. sample: optionally, real rows copied from another database (read-only); when that database
   has not applied every migration before the parent state, the scratch database is built at its
   state, and the missing migrations then run through Django on the copied rows ("pending"), so
   the checks meet the data as those migrations leave it;
4. up: ``up.sql`` executed exactly as bundled, statement by statement; operations SQL cannot
   express (RunPython) run through Django at their place; on PostgreSQL the locks each statement
   takes are read from ``pg_locks`` before the transaction commits;
5. checks: every query of ``checks.sql``, with the count and a sample of violating rows; the
   queries that can already run on the parent state (new constraints on existing columns) also
   run before ``up.sql`` ("precheck"), so data that would make it fail is reported with counts;
6. down: ``down.sql``, then the schema is compared with the parent snapshot;
7. redeploy: ``up.sql`` again;
8. the scratch database is dropped, whatever happened.

A step says "passed" only when it ran to its end: a step that raised is failed (or interrupted, on
Ctrl-C), and after a failure the steps that did not run are listed as skipped, saying why.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import DatabaseError, migrations, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import Migration
from django.db.migrations.state import ProjectState

from ..bundle.checksfile import parse as parse_checks
from ..bundle.model import Bundle
from ..bundle.store import load_bundle
from ..capture.graph import History, Node, ancestors, preceding
from ..capture.session import CaptureSession, NeedsMigrateOrder, rolled_back
from ..describe import describe_callable
from ..exceptions import CaptureError, MigrationStudioError, ValidationEnvironmentError
from ..scratch.database import ScratchDatabase
from ..sql.text import quoted_identifiers
from .checking import answerable, changes_data, identifiers_of, touched_tables, violations
from .freshness import stale_message, stale_parts
from .objects import Objects, compare_objects, database_objects
from .pending import applied_on, pending
from .result import (
    FAILED,
    INTERRUPTED,
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
        #: The migrations before the parent state the sample source has not applied: run on
        #: the sampled rows before the checks (see :meth:`_run_pending`).
        self.pending: list[Node] = []
        #: What to check on the sample source when copying from it fails.
        self._sample_hint = ""
        #: The operation whose part of a SQL file runs (for the messages).
        self._operation: int | None = None

    def run(self) -> ValidationResult:
        """Validate; what the migrations' own code prints on the scratch database (a
        backfill's progress) is dropped: the steps are the output (through ``log``)."""
        with contextlib.redirect_stdout(io.StringIO()):
            return self._run()

    def _run(self) -> ValidationResult:
        vendor = ScratchDatabase(self.alias, use_cache=False).source.vendor
        if vendor != self.bundle.vendor:
            raise ValidationEnvironmentError(
                f"{self.bundle.label} was captured on {self.bundle.vendor}; validate it with a "
                f"{self.bundle.vendor} database (--database), not {vendor}."
            )
        try:
            self._freshness()
            node = (self.bundle.app_label, self.bundle.migration_name)
            on_source = applied_on(self.sample_from, self.loader) if self.sample_from else None
            self._sample_hint = (
                "is its schema at the bundle's parent state?"
                if on_source is None
                else "is its schema the one of the migrations its django_migrations table records?"
            )
            # A transactional bundle is validated in the cached parent state itself, inside a
            # transaction that is rolled back (PostgreSQL; no copy of the database).
            in_place = self.bundle.transactional and not self.sample_from
            # The parent state from the migration's dependencies; for a history whose models do
            # not fit together that way (an undeclared dependency), from every migration that
            # ``migrate`` applies before it, as capture does.
            for everything_before in (False, True):
                base = (preceding if everything_before else ancestors)(self.loader, node)
                self.pending = pending(self.loader, base, on_source)
                steps = len(self.result.steps)
                try:
                    with (
                        ScratchDatabase(self.alias, use_cache=self.use_cache) as scratch,
                        CaptureSession(
                            scratch,
                            self.loader,
                            base - set(self.pending),
                            in_place=in_place,
                            everything_before=everything_before,
                        ) as session,
                    ):
                        if everything_before or session.renders():
                            self._on_scratch(scratch, session)
                            break
                except NeedsMigrateOrder:
                    del self.result.steps[steps:]  # the attempt's steps: they run again
                    continue
        except ValidationFailed as failure:
            self.result.status = FAILED
            self.result.error = str(failure)
            self._not_run()
        self.result.finished_at = _now()
        return self.result

    def _planned(self) -> list[str]:
        """The names of the steps a validation of this bundle runs, in order."""
        return [
            "freshness",
            "scratch",
            *(["sample"] if self.sample_from else []),
            *(["pending"] if self.pending else []),
            "precheck",
            "up",
            "checks",
            "down",
            "redeploy",
        ]

    def _not_run(self) -> None:
        """After a failed step, the steps that did not run are listed as skipped, saying so."""
        failed = next((s.name for s in self.result.steps if s.status == FAILED), None)
        why = f"not run: the {failed} step failed" if failed else "not run: the validation failed"
        done = {step.name for step in self.result.steps}
        for name in self._planned():
            if name not in done:
                step = Step(name, SKIPPED, detail=why)
                self.result.steps.append(step)
                self.log(step)

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
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM while the scratch database exists
            current.status = INTERRUPTED
            current.detail = "interrupted"
            raise
        except BaseException as error:  # an environment error, or any other: never "passed"
            current.status = FAILED
            current.detail = (
                str(error)
                if isinstance(error, MigrationStudioError)
                else f"{type(error).__name__}: {first_line(error)}"
            )
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
            stale = stale_parts(self.bundle, self.path, self.migration)
            if stale:
                raise ValidationFailed(stale_message(self.bundle, stale))
            step.detail = "migration file, up.sql and down.sql match bundle.json"

    def _on_scratch(self, scratch: ScratchDatabase, session: CaptureSession) -> None:
        connection = scratch.connection
        assert connection is not None and session.state is not None
        self.result.server_version = session.server_version
        self.touched = touched_tables(self.bundle, self.path)
        with self._step("scratch") as step:
            if self.pending:
                step.detail = (
                    f"scratch database at the state of '{self.sample_from}', "
                    f"{len(self.pending)} migration(s) before the parent state "
                    f"({session.origin})"
                )
            else:
                step.detail = f"scratch database at the parent state ({session.origin})"
                parent = quick_snapshot(connection, only=self.touched)
                parent_objects = database_objects(connection)
                migrated, why_not = self._migrate_schema(connection, session.state)
        if self.sample_from:
            with self._step("sample") as step:
                session._activation.close()  # the source alias must reach the real source
                try:
                    copied = copy_sample(self.sample_from, connection, self.sample_rows)
                except DatabaseError as error:
                    raise ValidationEnvironmentError(
                        f"Copying sample rows from '{self.sample_from}' failed: "
                        f"{first_line(error)} ({self._sample_hint})"
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
        if self.pending:
            with self._step("pending") as step:
                self._run_pending(session)
                parent = quick_snapshot(connection, only=self.touched)
                parent_objects = database_objects(connection)
                migrated, why_not = self._migrate_schema(connection, session.state)
                step.detail = (
                    f"{len(self.pending)} migration(s) not applied on '{self.sample_from}' run "
                    "on the sampled rows, as manage.py migrate runs them: "
                    + ", ".join(f"{app}.{name}" for app, name in self.pending)
                )
        states = self._states(session.state)
        with self._step("precheck") as step:
            self._checks(connection, step, before_up=True, known=identifiers_of(parent))
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
            # Functions, triggers, views, types ... too: what down.sql leaves behind of them.
            self.result.schema_diff = comparison.differences + compare_objects(
                parent_objects, database_objects(connection)
            )
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

    def _run_pending(self, session: CaptureSession) -> None:
        """Apply the migrations the sample source has not, through Django, on the sampled rows:
        the checks then meet the data as those migrations (data migrations too) leave it."""
        try:
            session.apply(self.pending)
        except NeedsMigrateOrder:
            raise
        except CaptureError as error:
            raise ValidationFailed(
                f"{error} (a migration not applied on '{self.sample_from}', run on the sampled "
                "rows as manage.py migrate would run it there)"
            ) from None

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
        postponed: list[str] = []  # before up: rejected by the database, left for after up
        for check in checks:
            if known is not None and not answerable(check, known):
                continue  # it needs what up.sql creates: it runs after up
            result = CheckResult(check.description, check.sql, 0, phase=phase)
            try:
                with transaction.atomic(using=self.alias), connection.cursor() as cursor:
                    result.violations, result.sample = violations(cursor, check)
            except DatabaseError as error:
                if before_up:
                    postponed.append(f"{check.description}: {first_line(error)}")
                    continue
                result.error = first_line(error)
            ran.append(result)
        self.result.checks.extend(ran)
        failed = [c for c in ran if not c.passed]
        step.detail = f"{len(ran) - len(failed)} of {len(ran)} check(s) passed" + (
            " on the parent state's data" if before_up else ""
        )
        if postponed:
            # Not run is not passed: say which, and why (they run again after up).
            step.detail += (
                f"; {len(postponed)} not run, the database rejected them before up (they run "
                f"after up): {'; '.join(postponed)}"
            )
        if not failed:
            return
        reasons = "; ".join(
            f"{c.description}: {c.error or f'{c.violations} violating row(s)'}" for c in failed
        )
        if before_up and changes_data(self.bundle):
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


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
