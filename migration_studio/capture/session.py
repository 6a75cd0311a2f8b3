"""Capture the SQL a migration really runs, by executing it on a scratch database.

``sqlmigrate`` and ``schema_editor(collect_sql=True)`` do not run statements, so every introspection
the schema editor makes (which constraint or index to drop) looks at a database in the wrong state.
Here each operation runs forwards, then backwards, on a scratch database at the migration's parent
state, and every statement the schema editor executes is recorded with its parameters interpolated,
exactly as Django's own SQL collection renders them.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from typing import Any

import django
from django.db import DatabaseError, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations import Migration, RunPython
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.fields import FieldOperation
from django.db.migrations.operations.models import IndexOperation, ModelOperation
from django.db.migrations.state import ProjectState
from django.db.transaction import TransactionManagementError

from ..bundle.model import Bundle, OperationSQL
from ..describe import describe_callable
from ..exceptions import CaptureError
from ..scratch.database import ScratchDatabase
from ..sql.splitter import terminated
from ..sql.text import runs_concurrently
from .facts import not_null_checked, operation_facts, sql_not_null_checked
from .graph import (
    Node,
    applied_before,
    context_key,
    manifest,
    migrate_order,
    preceding,
    resolve_dependency,
    state_key,
)
from .substate import substate


class NeedsCommits(CaptureError):
    """Inside the single rolled-back transaction of an in-place run, a migration used what an
    earlier one left uncommitted, which PostgreSQL allows only after a commit (a new enum value;
    a table with rows whose deferred foreign key checks are still pending): the run must go on a
    copy of the cached state, where each migration commits as under ``migrate``."""


#: PostgreSQL's "unsafe use of new value of enum type" (ALTER TYPE ... ADD VALUE not committed).
_UNCOMMITTED_ENUM_VALUE = "55P04"
#: PostgreSQL's object_in_use, as in "cannot ALTER TABLE ... because it has pending trigger events".
_OBJECT_IN_USE = "55006"


def _needs_commit(error: BaseException) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        state = getattr(cause, "sqlstate", None)
        if state == _UNCOMMITTED_ENUM_VALUE or (
            state == _OBJECT_IN_USE and "pending trigger events" in str(cause)
        ):
            return True
        cause = cause.__cause__
    return False


class NeedsWholeState(CaptureError):
    """A shortcut of a scoped session (see :class:`CaptureSession`) could not be taken, or may be
    why something failed: the run must go again on the whole state, which says what is wrong."""


def model_scoped(migrations: Iterable[Migration]) -> bool:
    """Whether every operation of ``migrations`` is one of Django's own model, field or index
    operations, whose SQL touches only the tables of the models they can see (see substate.py):
    no RunSQL, RunPython or third-party operation."""
    return all(
        isinstance(op, (ModelOperation, FieldOperation, IndexOperation))
        and type(op).__module__.startswith("django.db.migrations.operations.")
        for migration in migrations
        for op in migration.operations
    )


def _tables(state: ProjectState) -> set[str]:
    """The tables of a (rendered) state's models, auto-created many-to-many tables included."""
    return {model._meta.db_table for model in state.apps.get_models(include_auto_created=True)}


class NeedsMigrateOrder(CaptureError):
    """A migration's model state could not be built from its dependencies alone: its history
    leaves a dependency undeclared (an app took a model over from another, and a third app's
    migration still points at the old one), which works under ``migrate`` only because of the
    order in which it applies the whole graph. The run must apply, before each migration, every
    migration ``migrate`` applies before it."""


class StatementRecorder:
    """Records every statement a schema editor executes, attributed to the operation that caused it.

    Statements an operation queues in ``deferred_sql`` run when the schema editor exits; they are
    recorded as that operation's deferred statements, in the order Django runs them.
    """

    def __init__(self, editor: BaseDatabaseSchemaEditor) -> None:
        self.editor = editor
        self.current: int | None = None
        self.immediate: dict[int, list[str]] = defaultdict(list)
        self.deferred: dict[int, list[str]] = defaultdict(list)
        self._owners: dict[int, int] = {}
        self._owned: list[Any] = []  # keeps queued statements alive so their ids stay unique
        self._last = 0
        execute = editor.execute

        def recording_execute(sql: Any, params: Any = ()) -> None:
            execute(sql, params)
            self._record(sql, params)

        editor.execute = recording_execute  # type: ignore[method-assign]

    def start(self, index: int) -> None:
        self.current = self._last = index

    def finish(self) -> None:
        """Claim the statements the current operation queued for the end of the migration."""
        for statement in self.editor.deferred_sql:
            if id(statement) not in self._owners:
                self._owners[id(statement)] = self._last
                self._owned.append(statement)
        self.current = None

    def render(self, sql: Any, params: Any) -> str:
        text = str(sql)
        if params is not None:
            text = text % tuple(map(self.editor.quote_value, params))
        if text.rstrip().endswith(";"):
            return text
        vendor = getattr(getattr(self.editor, "connection", None), "vendor", "postgresql")
        return terminated(text, vendor)

    def _record(self, sql: Any, params: Any) -> None:
        text = self.render(sql, params)
        if self.current is not None:
            self.immediate[self.current].append(text)
        else:
            self.deferred[self._owners.get(id(sql), self._last)].append(text)


def _expressible(operation: Operation) -> bool:
    """Whether SQL can express what the operation does. ``RunPython(RunPython.noop,
    RunPython.noop)`` (or without reverse) does nothing: no SQL expresses it exactly."""
    if isinstance(operation, RunPython):
        return operation.code is RunPython.noop and operation.reverse_code in (None, RunPython.noop)
    inner = getattr(operation, "database_operations", None) or []
    return operation.reduces_to_sql and all(_expressible(op) for op in inner)


def _why_not(operation: Operation, *, expressible: bool, reversible: bool) -> str:
    name = type(operation).__name__
    reasons = []
    if not expressible:
        code = getattr(operation, "code", None)
        where = f" ({describe_callable(code)})" if code else ""
        reasons.append(
            f"{name} runs Python code{where}, which SQL cannot express; "
            "apply it with manage.py migrate"
        )
    if not reversible:
        missing = {"RunPython": "reverse_code", "RunSQL": "reverse_sql"}.get(name)
        reasons.append(
            f"{name} has no {missing}" if missing else f"{name} declares itself irreversible"
        )
    return "; ".join(reasons)


def _run(
    editor: BaseDatabaseSchemaEditor,
    migration: Migration,
    operation: Operation,
    method: str,
    from_state: ProjectState,
    to_state: ProjectState,
) -> None:
    """Run one operation the way ``Migration.apply``/``unapply`` do (same transaction rules)."""
    atomic_operation = operation.atomic or (migration.atomic and operation.atomic is not False)
    run = getattr(operation, method)
    if not editor.atomic_migration and atomic_operation:
        with transaction.atomic(editor.connection.alias):
            run(migration.app_label, editor, from_state, to_state)
    else:
        run(migration.app_label, editor, from_state, to_state)


class CaptureSession:
    """A scratch database that follows the migration graph, capturing migrations on the way.

    ``base`` is the set of migrations applied when the session starts (it may come from the cache);
    :meth:`capture` brings the database to a migration's parent state, runs the migration forwards
    and backwards, and returns its :class:`Bundle`. ``in_place`` allows using a cached state
    directly inside a rolled-back transaction (only when every migration to run is atomic).

    ``scoped`` says that every migration the session runs beyond ``base`` (those it captures, and
    their dependencies not in ``base``) is :func:`model_scoped`, which allows two shortcuts: on
    SQLite the scratch database is a partial copy of the cached state holding the tables each
    capture needs (partialcopy.py), and the model-scoped migrations applied on the way run on the
    part of the state they can see, as captures do (see :meth:`_apply_plan`). Where a shortcut
    fails or cannot be taken, :class:`NeedsWholeState` is raised: ``capture_migrations`` then runs
    again without them (see :attr:`took_shortcuts`), so that errors read as before.
    """

    #: Run captures on the part of the state the migration can see (see substate.py).
    reduce_state = True

    def __init__(
        self,
        scratch: ScratchDatabase,
        loader: MigrationLoader,
        base: Iterable[Node],
        *,
        base_state: ProjectState | None = None,
        sources: dict[Node, bytes] | None = None,
        in_place: bool = False,
        needed: Iterable[Node] = (),
        everything_before: bool = False,
        scoped: bool = False,
    ) -> None:
        self.scratch = scratch
        self.loader = loader
        self.base: set[Node] = set(base)
        #: What the captures of this session need in all (see graph.applied_before).
        self.needed: set[Node] = set(needed)
        #: Apply every migration ``migrate`` applies before the captured one, not only the ones
        #: it needs (slower: for histories with undeclared dependencies).
        self.everything_before = everything_before
        self.applied: set[Node] = set()
        self.sources = sources or {}
        self.in_place = in_place and scratch.vendor.supports_in_place
        self.scoped = scoped and self.reduce_state
        #: Whether migrations were applied on substates (the whole state is then not rendered).
        self.built_on_substates = False
        self._base_state = base_state
        self.state: ProjectState | None = None
        self.server_version = ""
        #: How the starting state was obtained, for the user (verbosity 2).
        self.origin = ""
        self._activation = ExitStack()

    # -- building the starting state ----------------------------------------------------------

    def __enter__(self) -> CaptureSession:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._activation.close()

    def _activate(self) -> None:
        self._activation.close()
        self._activation.enter_context(self.scratch.activated())

    def start(self) -> None:
        """Bring a database to the base state: a cached state, the closest one, or from nothing."""
        scratch = self.scratch
        self.server_version = scratch.server_version()
        context = context_key(scratch.source.vendor, self.server_version)
        files = manifest(self.loader, self.base, self.sources)
        key = state_key(context, files)

        cached = scratch.cached(key)
        if cached and self.in_place:
            scratch.open_in_place(cached)
        if cached and (self.in_place or scratch.create(template=cached, partial=self.scoped)):
            how = "used in place, changes rolled back" if self.in_place else "copied"
            if scratch.partial is not None:
                how = "copied: only the tables each capture needs"
            self.origin = f"cached state {cached} ({how})"
            self._activate()
            self.applied = set(self.base)
            self.state = self._base_state or self._state_of(self.applied)
            return

        # Not cached (or the cached copy could not be made: then an empty database exists).
        # A closest state holds what an earlier run applied, maybe only dependencies: not where a
        # run that must follow migrate's whole order can start.
        closest = (
            None
            if scratch.connection or self.everything_before
            else scratch.closest_cached(context, files)
        )
        if closest and scratch.create(template=closest[0]):
            self.applied = {tuple(node.split(".", 1)) for node in closest[1]["files"]}
            self.state = self._state_of(self.applied)
        else:
            if scratch.connection is None:
                scratch.create()
            self.state = ProjectState(real_apps=self.loader.unmigrated_apps)
        self._activate()
        if not self.applied:
            scratch.connection.prepare_database()
        missing = len(self.base - self.applied)
        self.origin = (
            f"closest cached state {closest[0]} plus {missing} migration(s)"
            if closest and self.applied
            else f"built from nothing ({missing} migration(s))"
        )
        self._apply_plan(self.base)
        if scratch.use_cache:
            self._activation.close()
            name = scratch.cache_name(key)
            scratch.publish(name, {"context": context, "files": files}, keep=not self.in_place)
            if scratch.connection is None:  # the scratch database became the cached state
                scratch.open_in_place(name)
            elif self.scoped:  # go on with the tables the captures need only
                scratch.reopen_partial(name)
            self._activate()

    def _state_of(self, nodes: set[Node]) -> ProjectState:
        """The state of the migrations ``nodes``, applied in ``migrate``'s order."""
        state = ProjectState(real_apps=self.loader.unmigrated_apps)
        for node in migrate_order(self.loader):
            if node in nodes:
                state = self.loader.graph.nodes[node].mutate_state(state, preserve=False)
        return state

    def apply(self, nodes: Iterable[Node]) -> None:
        """Apply ``nodes`` (and what they depend on) that are not applied yet, through Django as
        ``migrate`` applies them: data migrations run on the rows the database holds."""
        self._apply_plan(nodes)

    def _apply_plan(self, nodes: Iterable[Node]) -> None:
        """Apply every migration needed for ``nodes`` (and ``nodes``) that is not applied yet."""
        assert self.state is not None
        needed: set[Node] = set()
        for node in nodes:
            needed.update(self.loader.graph.forwards_plan(node))
        needed -= self.applied
        # In the order a full ``migrate`` applies them: where a history leaves a dependency
        # undeclared, another valid order can fail (a model another app took over, not there yet).
        plan = [node for node in migrate_order(self.loader) if node in needed] if needed else []
        connection = self.scratch.connection
        on_substates = self._substates_from(plan)
        if plan:
            self._copy_tables(None)
            if not self.built_on_substates:  # else never rendered whole, and needs not be
                self._render()
        for position, node in enumerate(plan):
            migration = self.loader.graph.nodes[node]
            try:
                with connection.schema_editor(atomic=migration.atomic) as editor:
                    if position >= on_substates:
                        self._apply_on_substate(migration, editor)
                    else:
                        self.state = migration.apply(self.state, editor)
            except Exception as error:  # the migration's own code may raise anything
                if self.in_place and _needs_commit(error):
                    raise NeedsCommits(str(error)) from error
                if self.built_on_substates:
                    raise NeedsWholeState(
                        f"Migration {node[0]}.{node[1]} failed on a substate"
                    ) from error
                message = (
                    f"Migration {node[0]}.{node[1]} failed while building the parent state on "
                    f"the scratch {connection.vendor} database: {_describe(error)}"
                )
                if _state_error(error) and not self.everything_before:
                    raise NeedsMigrateOrder(message) from error
                raise CaptureError(message) from error
            self.applied.add(node)

    # -- building on substates (a shortcut of scoped sessions) --------------------------------

    def _substates_from(self, plan: list[Node]) -> int:
        """Where in ``plan`` migrations start running on substates: after the last one that needs
        the whole rendered state (RunPython ...), which runs as before, on the state rendered once
        and reloaded by each operation as under ``migrate``. ``len(plan)``: none does.

        Rendering a state of hundreds of models and reloading it at each operation cost most of a
        cold run's time; a model-scoped migration renders the few models it can see instead.
        """
        if not self.scoped:
            return len(plan)
        whole = [
            position
            for position, node in enumerate(plan)
            if not model_scoped([self.loader.graph.nodes[node]])
        ]
        if whole and self.built_on_substates:
            # The whole state has not been reloaded step by step as migrate does: go again.
            raise NeedsWholeState(f"Migration {plan[whole[-1]][0]}.{plan[whole[-1]][1]} needs it")
        return whole[-1] + 1 if whole else 0

    def _apply_on_substate(self, migration: Migration, editor: BaseDatabaseSchemaEditor) -> None:
        """Apply ``migration`` on the part of the state it can see (substate.py), as a capture
        runs it; the whole state follows its operations without being rendered."""
        assert self.state is not None
        reduced = substate(self.state, migration)
        if reduced is None:
            raise NeedsWholeState(f"{migration.app_label}.{migration.name} is not model-scoped")
        self.built_on_substates = True
        self.state.__dict__.pop("apps", None)  # rendered models would be reloaded at each step
        self._render(reduced)
        migration.apply(reduced, editor)
        for op in migration.operations:
            op.state_forwards(migration.app_label, self.state)

    @property
    def took_shortcuts(self) -> bool:
        """Whether a failure may come from a shortcut of a scoped session (see the class)."""
        return self.built_on_substates or self.scratch.was_partial

    # -- capturing -----------------------------------------------------------------------------

    def renders(self) -> bool:
        """Whether the state's models fit together (every relation resolves)."""
        try:
            self._render()
        except CaptureError:
            return False
        return True

    def _render(self, state: ProjectState | None = None) -> None:
        """Render every model once, as the executor does (clones then copy the rendered apps)."""
        state = state or self.state
        assert state is not None
        if "apps" in state.__dict__:
            return
        try:
            state.apps  # noqa: B018
        except (LookupError, ValueError) as error:
            message = f"The models of the parent state do not fit together: {_describe(error)}"
            if self.everything_before:
                raise CaptureError(message) from error
            raise NeedsMigrateOrder(message) from error

    def _copy_tables(self, state: ProjectState | None) -> None:
        """On a partial copy, copy in the tables of ``state``'s models (None: every table)."""
        if self.scratch.partial is None:
            return
        try:
            self.scratch.copy_tables(None if state is None else _tables(state))
        except sqlite3.Error as error:
            raise NeedsWholeState(
                f"Copying tables into the scratch database failed: {error}"
            ) from None

    def _check_partial(self, migration: Migration, results: list[OperationSQL]) -> None:
        """On a partial copy, fail when the migration created what a left-out object is named."""
        partial = self.scratch.partial
        statements = [s for r in results for s in r.all_forward_sql + r.all_reverse_sql]
        if partial is not None and partial.collides(statements):
            raise NeedsWholeState(
                f"{migration.app_label}.{migration.name} creates an object under the name of "
                "one the partial copy of the cached state left out"
            )

    def capture(self, migration: Migration) -> Bundle:
        node = (migration.app_label, migration.name)
        if self.everything_before:
            self._apply_plan(preceding(self.loader, node))
        else:
            self._apply_plan(applied_before(self.loader, node, self.needed | self.base))
        return self._capture(migration)

    def _capture(self, migration: Migration) -> Bundle:
        assert self.state is not None
        connection = self.scratch.connection
        results = [
            OperationSQL(
                index=index,
                operation=type(op).__name__,
                description=op.describe(),
                expressible=_expressible(op),
                reversible=op.reversible,
            )
            for index, op in enumerate(migration.operations)
        ]
        for result, op in zip(results, migration.operations, strict=True):
            result.reason = _why_not(
                op, expressible=result.expressible, reversible=result.reversible
            )

        # Forwards. The state before each operation is kept: the backwards run needs exactly the
        # states ``Migration.unapply`` would compute, and operations never mutate those.
        reduced = substate(self.state, migration) if self.reduce_state else None
        if reduced is None:
            self._render()
        state = reduced or self.state
        # Render before the first clone, as the executor does: model classes (and so the order of
        # their fields in table rebuilds) then come about in the same order as under migrate.
        self._render(state)
        self._copy_tables(reduced)
        before: list[ProjectState] = []
        with (
            self._failing(migration, "forwards"),
            connection.schema_editor(atomic=migration.atomic) as editor,
        ):
            recorder = StatementRecorder(editor)
            for index, op in enumerate(migration.operations):
                before.append(state.clone())
                checked = not_null_checked(op, migration.app_label, before[index], connection)
                sql_checked = sql_not_null_checked(op, connection)
                recorder.start(index)
                op.state_forwards(migration.app_label, state)
                _run(editor, migration, op, "database_forwards", before[index], state)
                recorder.finish()
                facts = operation_facts(op, migration.app_label, before[index], state, connection)
                facts.not_null_checked = checked
                facts.sql_not_null_checked = sql_checked
                results[index].facts = facts.to_dict()
        for result in results:
            result.forward_sql = recorder.immediate[result.index]
            result.deferred_forward_sql = recorder.deferred[result.index]
        applied_state = state
        if before and reduced is None:
            self.state = before[0]  # the parent state, for what comes next
        # (state before, state after) of each operation
        steps = [(state, [*before[1:], applied_state][i]) for i, state in enumerate(before)]

        # Backwards, operations in reverse order, as ``migrate`` to the previous migration runs.
        # Where the backend can roll DDL back, the backwards run is undone afterwards: the
        # database then stands with the migration applied, as ``migrate`` leaves it, without
        # running the migration a second time (a data step whose reverse is a no-op would
        # otherwise insert its rows twice).
        undo = migration.atomic and connection.features.can_rollback_ddl
        blocked_at: int | None = None
        with (
            self._failing(migration, "backwards"),
            rolled_back(connection) if undo else nullcontext(),
            connection.schema_editor(atomic=migration.atomic) as editor,
        ):
            recorder = StatementRecorder(editor)
            for index in reversed(range(len(migration.operations))):
                op = migration.operations[index]
                if not op.reversible:
                    if _expressible(op):
                        blocked_at = index  # the schema cannot go back past this operation
                        break
                    continue  # irreversible Python code: the schema is unaffected
                recorder.start(index)
                to_state, from_state = steps[index]
                _run(editor, migration, op, "database_backwards", from_state, to_state)
                recorder.finish()
        for result in results:
            if not result.reversible:
                result.reverse_sql = None
            elif blocked_at is not None and result.index < blocked_at:
                result.reverse_sql = None
                result.reason = (
                    f"not captured: the rollback stops at operation {blocked_at + 1}, "
                    "which is irreversible"
                )
            else:
                result.reverse_sql = recorder.immediate[result.index]
                result.deferred_reverse_sql = recorder.deferred[result.index]

        if blocked_at is not None and not undo:
            # The database is part-way back; run the reversed operations forwards again, so the
            # session stands where ``migrate`` would leave it: with this migration applied.
            with connection.schema_editor(atomic=migration.atomic) as editor:
                for index in range(blocked_at + 1, len(migration.operations)):
                    op = migration.operations[index]
                    _run(editor, migration, op, "database_forwards", *steps[index])
        if undo or blocked_at is not None:
            if reduced is None:
                self.state = applied_state
            else:
                for op in migration.operations:
                    op.state_forwards(migration.app_label, self.state)
            self.applied.add((migration.app_label, migration.name))
        self._check_partial(migration, results)

        return Bundle(
            app_label=migration.app_label,
            migration_name=migration.name,
            dependencies=[list(resolve_dependency(dep)) for dep in migration.dependencies],
            atomic=migration.atomic,
            vendor=connection.vendor,
            server_version=self.server_version,
            django_version=django.get_version(),
            created_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            operations=results,
            transactional=_transactional(migration, connection, results),
            replaces=[list(node) for node in migration.replaces],
        )

    @contextmanager
    def _failing(self, migration: Migration, direction: str) -> Iterator[None]:
        try:
            yield
        except CaptureError:
            raise
        except Exception as error:  # the migration's own code may raise anything
            if self.in_place and _needs_commit(error):
                raise NeedsCommits(str(error)) from error
            message = (
                f"Running {migration.app_label}.{migration.name} {direction} failed on the "
                f"scratch {self.scratch.connection.vendor} database: {_describe(error)}"
            )
            if _state_error(error) and not self.everything_before:
                raise NeedsMigrateOrder(message) from error
            raise CaptureError(message) from error


@contextmanager
def rolled_back(connection: Any) -> Iterator[None]:
    """Run the block in a transaction (a savepoint inside one) that is always rolled back."""
    # SQLite cannot switch foreign key checks off inside a transaction, and its schema editor
    # needs them off: switch them off before it starts.
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        connection.disable_constraint_checking()
    try:
        with transaction.atomic(using=connection.alias):
            yield
            transaction.set_rollback(True, using=connection.alias)
    finally:
        if sqlite:
            connection.enable_constraint_checking()


def _transactional(migration: Migration, connection: Any, results: list[OperationSQL]) -> bool:
    if not (migration.atomic and connection.features.can_rollback_ddl):
        return False
    statements = (s for r in results for s in r.all_forward_sql + r.all_reverse_sql)
    return not any(runs_concurrently(s) for s in statements)


def _state_error(error: BaseException) -> bool:
    """Whether ``error`` may come from a model state built without what ``migrate`` applies
    first: a model or relation that cannot be resolved (not the database's doing)."""
    return isinstance(error, (LookupError, ValueError)) and not isinstance(error, DatabaseError)


def _describe(error: BaseException) -> str:
    """The first line of the error that started it all.

    When a data step fails inside a migration's transaction, Django's schema editor goes on to
    run its deferred statements (SQLite: a constraint check) and fails with "An error occurred in
    the current transaction", hiding the real error: report the one it hides.
    """
    while isinstance(error, TransactionManagementError) and error.__context__ is not None:
        error = error.__context__
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(error, DatabaseError):
        return first or type(error).__name__
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def capture_migrations(
    alias: str,
    loader: MigrationLoader,
    migrations: list[Migration],
    *,
    base: Iterable[Node],
    base_state: ProjectState | None = None,
    sources: dict[Node, bytes] | None = None,
    use_cache: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[Bundle]:
    """Capture ``migrations`` (in graph order) on one scratch database, dropped afterwards."""
    base = set(base)
    to_run = {(m.app_label, m.name) for m in migrations}
    for node in list(to_run):
        to_run.update(loader.graph.forwards_plan(node))
    in_place = all(loader.graph.nodes[node].atomic for node in to_run - base)
    scoped = model_scoped(loader.graph.nodes[node] for node in to_run - base)
    everything_before = False
    while True:
        session = CaptureSession(
            ScratchDatabase(alias, use_cache=use_cache),
            loader,
            base,
            base_state=base_state,
            sources=sources,
            in_place=in_place,
            needed=to_run,
            everything_before=everything_before,
            scoped=scoped,
        )
        try:
            # What the migrations' own code prints on the scratch database (a RunPython's
            # progress) is not the command's output; the command's log is not sys.stdout.
            with contextlib.redirect_stdout(io.StringIO()), session.scratch, session:
                if log:
                    log(f"Scratch database: {session.origin}.")
                return [session.capture(migration) for migration in migrations]
        except NeedsCommits:
            # On a copy each migration commits, as under ``migrate``.
            in_place = False
            if log:
                log("A migration needs what an earlier one committed; capturing on a copy.")
        except NeedsMigrateOrder as why:
            everything_before = True
            first = (migrations[0].app_label, migrations[0].name)
            base = base | preceding(loader, first)
            # More migrations run now: in place only if all of them can run in a transaction.
            last = (migrations[-1].app_label, migrations[-1].name)
            in_place = in_place and all(
                loader.graph.nodes[node].atomic for node in preceding(loader, last) - base
            )
            if log:
                log(f"{why}; capturing with every migration migrate applies before each one.")
        except CaptureError as why:
            # A shortcut (a partial copy, migrations applied on substates) may be why: go again
            # without them, on the whole state, which says what is wrong.
            if not session.took_shortcuts:
                raise
            scoped = False
            if log:
                log(f"{why}; capturing again on the whole state.")
        # The state is rebuilt from the graph: the attempt may have moved ``base_state`` on.
        base_state = None
