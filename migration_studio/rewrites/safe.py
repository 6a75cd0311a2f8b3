"""Safe rewrites (``makesafemigration --safe``): the version of a migration that keeps its tables
writable and the code still running working, with Django's migration state unchanged.

On every database, a renamed field or model keeps its column or table (:mod:`.renames`): the
rename runs no SQL. On PostgreSQL, on tables that exist before the migration:

- index builds and drops move to migrations of their own that are not atomic and run ``CREATE
  INDEX CONCURRENTLY`` / ``DROP INDEX CONCURRENTLY`` (``AddIndexConcurrently``,
  ``RemoveIndexConcurrently``): writes go on while the index is built. Drops come before the rest
  of the migration (a dropped column would take its indexes with it), builds after it (an index
  may cover a column the migration adds);
- a unique constraint on columns the table has is built as a unique index ``CONCURRENTLY`` in a
  non-atomic migration before the rest, which then adds the constraint ``USING INDEX`` (no scan);
- a field gaining ``db_index`` or ``unique``, and a new column's index, are built the same way
  after the rest of the migration;
- a new NOT NULL column keeps its plain default in the database (Django drops it), so the code
  still running, which does not know the column, keeps inserting rows;
- dropped columns and tables leave Django's state first and are dropped by a migration written
  last, to deploy once no code uses them;
- a CHECK constraint is added ``NOT VALID`` (no scan, a brief lock) and validated in the next
  migration (``VALIDATE CONSTRAINT`` reads the table under SHARE UPDATE EXCLUSIVE, which lets
  reads and writes go on). In the same transaction the split would gain nothing: the first
  statement's ACCESS EXCLUSIVE lock would last until the scan ends. Rolling the validation back
  makes the constraint NOT VALID again (dropped and added back NOT VALID), as it was;
- a column made NOT NULL gets ``CHECK (column IS NOT NULL) NOT VALID``; the next migration
  validates it, sets NOT NULL (no scan on PostgreSQL 12+) and drops the check;
- a nullable foreign key is added as the column alone, then its constraint ``NOT VALID``,
  validated in the next migration, and its index is built ``CONCURRENTLY``.

Every migration written here on PostgreSQL sets ``lock_timeout`` (``SAFE_LOCK_TIMEOUT``) for its
statements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from copy import copy as shallow_copy
from decimal import Decimal
from typing import Any, NamedTuple

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import (
    AddConstraint,
    AddField,
    AddIndex,
    AlterField,
    DeleteModel,
    Migration,
    RemoveField,
    RemoveIndex,
    RenameField,
    RunSQL,
    SeparateDatabaseAndState,
)
from django.db.migrations.state import ProjectState
from django.db.models import CheckConstraint, UniqueConstraint

from .. import conf
from ..bundle.model import sha256
from . import renames as rename_rewrites
from .backfill import model_label
from .backup import backup_sql, table_backup_sql
from .renames import Renames

#: The databases of the rewrites that avoid locks (the renames are rewritten on every database).
VENDORS = ("postgresql",)

Stages = list[tuple[Migration, str]]


def safe_stager(
    from_state: ProjectState | None,
    connection: BaseDatabaseWrapper,
    renames: Renames | None = None,
) -> Callable[[Migration, Any, str], Stages | None]:
    """The stager :func:`.expand.split` calls for each migration (and each stage of a plan): its
    safe stages, or None when nothing in it has a safe version. ``renames``: the renames that
    keep their database names (:func:`.renames.plan`); the other rewrites are made on
    PostgreSQL only."""
    locks = connection.vendor in VENDORS

    def stages(migration: Migration, position: Any, suffix: str) -> Stages | None:
        if from_state is None:
            return None
        app_label = migration.app_label

        def on_existing(op: Any) -> bool:
            return (app_label, op.model_name_lower) in from_state.models

        kept = [found for op in migration.operations if renames and (found := renames.of(op))]
        # What the rewrites that avoid locks look at: nothing but on PostgreSQL.
        operations = migration.operations if locks else []
        drops = [op for op in operations if isinstance(op, RemoveIndex) and on_existing(op)]
        builds = [op for op in operations if isinstance(op, AddIndex) and on_existing(op)]
        checks = [
            op
            for op in operations
            if isinstance(op, AddConstraint)
            and isinstance(op.constraint, CheckConstraint)
            and on_existing(op)
        ]
        uniques = [
            op
            for op in operations
            if isinstance(op, AddConstraint)
            and _plain_unique(op.constraint, app_label, op.model_name_lower, from_state)
        ]
        not_nulls = [
            op
            for op in operations
            if isinstance(op, AlterField) and _only_not_null(op, app_label, from_state)
        ]
        foreign_keys = [
            op
            for op in operations
            if isinstance(op, AddField) and _nullable_foreign_key(op, app_label, from_state)
        ]
        removes = [
            op
            for op in operations
            if isinstance(op, RemoveField) and _dropped_column(op, app_label, from_state)
        ]
        deletes = [
            op
            for op in operations
            if isinstance(op, DeleteModel) and (app_label, op.name_lower) in from_state.models
        ]
        indexed = {
            op: steps
            for op in operations
            if isinstance(op, AlterField)
            and _index_only_change(op, app_label, from_state)
            and (steps := _concurrent_steps(_django_sql(op, app_label, from_state, connection)))
        }
        added = {
            op: parts
            for op in operations
            if isinstance(op, AddField)
            and op not in foreign_keys
            and (parts := _added_column(op, app_label, from_state, connection))
        }
        if not (
            drops
            or builds
            or checks
            or uniques
            or not_nulls
            or foreign_keys
            or removes
            or deletes
            or indexed
            or added
            or kept
        ):
            return None
        check_sql = {op: _check_sql(op, app_label, from_state, connection) for op in checks}
        fk_sql = {
            op: _foreign_key_sql(op, app_label, from_state, connection) for op in foreign_keys
        }

        def safer(op: Any) -> list[Any]:
            if renames and (found := renames.of(op)):
                return rename_rewrites.operations(found)
            if op in checks:
                return [_not_valid(op, check_sql[op])]
            if op in not_nulls:
                return [_not_null_check(op, app_label, from_state)]
            if op in foreign_keys:
                return [_column_then_not_valid(op, fk_sql[op])]
            if op in removes and op.model_name_lower in deleted:
                return [SeparateDatabaseAndState(state_operations=[op])]  # the table stays whole
            if op in removes:
                return [_state_only_removal(op, app_label, from_state)]
            if op in deletes:
                return [SeparateDatabaseAndState(state_operations=[op])]
            if op in added:
                return [added[op][0]]
            return [op]

        deleted = {op.name_lower for op in deletes}
        moved = {*drops, *builds, *indexed, *uniques}
        rest = [new for op in migration.operations if op not in moved for new in safer(op)]
        result: Stages = []
        previous = list(migration.dependencies)

        def add(stage: Migration, name: str) -> None:
            nonlocal previous
            if locks:
                stage.operations = _with_lock_timeout(stage.operations, stage.atomic)
            stage.dependencies = previous
            result.append((stage, name))
            previous = [(app_label, stage.name)]

        if drops or builds:
            from django.contrib.postgres.operations import (
                AddIndexConcurrently,
                RemoveIndexConcurrently,
            )
        if drops:
            first = Migration(f"__drop_{position}", app_label)
            first.operations = [RemoveIndexConcurrently(op.model_name, op.name) for op in drops]
            first.atomic = False
            first.plan_note = _note("drop", drops, app_label)
            add(first, f"{suffix}_drop_indexes" if rest or builds else suffix)
        if uniques:
            index = Migration(f"__unique_{position}", app_label)
            index.operations = [_unique_constraint(op, app_label, from_state) for op in uniques]
            index.atomic = False
            index.plan_note = _note("unique index", uniques, app_label)
            add(index, f"{suffix}_unique" if rest or drops or builds else suffix)
        if rest:
            main = Migration(f"__main_{position}", app_label)
            main.operations = rest
            main.initial = migration.initial
            notes = [rename_rewrites.note(kept)] if kept else []
            notes += [_note("not valid", checks, app_label)] if checks else []
            notes += [_note("not null check", not_nulls, app_label)] if not_nulls else []
            notes += [_note("fk not valid", foreign_keys, app_label)] if foreign_keys else []
            defaults = [op for op in added if added[op][2]]
            notes += [_note("keep default", defaults, app_label, _column_name)] if defaults else []
            if removes or deletes:
                notes.append(_removal_note(removes + deletes, app_label, f"__droplater_{position}"))
            if notes:
                main.plan_note = _joined(notes)
            add(main, suffix)
        if checks or not_nulls or foreign_keys:
            validate = Migration(f"__validate_{position}", app_label)
            validate.operations = (
                [
                    _validate(_table(op, app_label, from_state), f'"{op.constraint.name}"', *sql)
                    for op, sql in check_sql.items()
                ]
                + [step for op in not_nulls for step in _set_not_null(op, app_label, from_state)]
                + [fk_sql[op]["validate"] for op in foreign_keys]
            )
            notes = [_note("validate", checks, app_label)] if checks else []
            notes += [_note("set not null", not_nulls, app_label)] if not_nulls else []
            notes += [_note("fk validate", foreign_keys, app_label)] if foreign_keys else []
            validate.plan_note = _joined(notes)
            add(validate, f"{suffix}_validate")
        column_indexes = [op for op in added if added[op][1]]
        if builds or indexed or column_indexes or any(fk_sql[op]["index"] for op in foreign_keys):
            last = Migration(f"__build_{position}", app_label)
            last.operations = (
                [AddIndexConcurrently(op.model_name, op.index) for op in builds]
                + [fk_sql[op]["index"] for op in foreign_keys if fk_sql[op]["index"]]
                + [step for op in column_indexes for step in added[op][1]]
                + [
                    SeparateDatabaseAndState(database_operations=steps, state_operations=[op])
                    for op, steps in indexed.items()
                ]
            )
            last.atomic = False
            notes = (
                [_note("build", builds + foreign_keys, app_label)] if builds or foreign_keys else []
            )
            if indexed or column_indexes:
                notes.append(
                    _note("field index", [*indexed, *column_indexes], app_label, _index_name)
                )
            last.plan_note = _joined(notes)
            add(last, f"{suffix}_indexes" if rest or drops else suffix)
        if removes or deletes:
            # Columns first: a foreign key column dropped here may point at a table dropped here.
            later = Migration(f"__droplater_{position}", app_label)
            # A column of a table dropped here goes with the table (and its backup).
            later.operations = [
                step
                for op in removes
                if op.model_name_lower not in deleted
                for step in _drop_column_later(op, app_label, from_state, connection)
            ] + [
                step
                for op in deletes
                for step in _drop_table_later(op, app_label, from_state, connection)
            ]
            later.plan_note = _note("drop later", removes + deletes, app_label)
            add(later, f"{suffix}_drop_later")
        return result

    return stages


def _with_lock_timeout(operations: list[Any], atomic: bool) -> list[Any]:
    """``operations`` run with the lock_timeout of ``SAFE_LOCK_TIMEOUT``: a statement that waits
    longer for its lock fails instead of queueing every query behind it (run the migration again
    later). In a transaction ``SET LOCAL`` ends with it; otherwise the setting is reset after."""
    timeout = f"{round(float(conf.get('SAFE_LOCK_TIMEOUT')) * 1000)}ms"
    if atomic:
        local = f"SET LOCAL lock_timeout = '{timeout}';"
        return [RunSQL(local, reverse_sql=local), *operations]
    setting = f"SET lock_timeout = '{timeout}';"
    return [
        RunSQL(setting, reverse_sql="RESET lock_timeout;"),
        *operations,
        RunSQL("RESET lock_timeout;", reverse_sql=setting),
    ]


def _check_sql(
    op: AddConstraint, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> tuple[str, str]:
    """The CHECK added NOT VALID, and dropped, as Django writes them."""
    model = from_state.apps.get_model(app_label, op.model_name_lower)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        add = str(op.constraint.create_sql(model, editor)).rstrip(";")
        drop = str(op.constraint.remove_sql(model, editor)).rstrip(";")
    return f"{add} NOT VALID;", f"{drop};"


def _not_valid(op: AddConstraint, sql: tuple[str, str]) -> SeparateDatabaseAndState:
    """The CHECK added NOT VALID (no scan); Django's state gets the constraint as it is."""
    add, drop = sql
    return SeparateDatabaseAndState(
        database_operations=[RunSQL(add, reverse_sql=drop)], state_operations=[op]
    )


def _plain_unique(
    constraint: Any, app_label: str, model_name: str, from_state: ProjectState
) -> bool:
    """A unique constraint on columns the table already has, and nothing more (no condition,
    expression, INCLUDE, operator class or deferral): what ADD CONSTRAINT ... USING INDEX takes."""
    if not isinstance(constraint, UniqueConstraint) or not constraint.fields:
        return False
    if (app_label, model_name) not in from_state.models:
        return False
    plain = not (
        constraint.condition
        or constraint.expressions
        or constraint.include
        or constraint.opclasses
        or constraint.deferrable
        or getattr(constraint, "nulls_distinct", None) is not None
    )
    fields = from_state.models[app_label, model_name].fields
    return plain and all(name in fields for name in constraint.fields)


def _columns(op: AddConstraint, app_label: str, from_state: ProjectState) -> tuple[str, str]:
    model = from_state.apps.get_model(app_label, op.model_name_lower)
    columns = ", ".join(f'"{model._meta.get_field(name).column}"' for name in op.constraint.fields)
    return model._meta.db_table, columns


def _unique_constraint(
    op: AddConstraint, app_label: str, from_state: ProjectState
) -> SeparateDatabaseAndState:
    """The constraint's unique index built without blocking writes, then the constraint made of
    it (ADD CONSTRAINT ... USING INDEX, no scan). Rolling back drops the constraint, which takes
    the index with it."""
    table, columns = _columns(op, app_label, from_state)
    name = op.constraint.name
    return SeparateDatabaseAndState(
        database_operations=[
            RunSQL(
                f'CREATE UNIQUE INDEX CONCURRENTLY "{name}" ON "{table}" ({columns});',
                reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{name}";',
            ),
            RunSQL(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}";',
                reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}";',
            ),
        ],
        state_operations=[op],
    )


def _validate(table: str, name: str, add: str, drop: str) -> RunSQL:
    """VALIDATE CONSTRAINT; rolling back makes the constraint NOT VALID again (dropped and added
    back NOT VALID: a brief lock, no scan), as it was before."""
    return RunSQL(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT {name};', reverse_sql=[drop, add])


def _table(op: Any, app_label: str, from_state: ProjectState) -> str:
    return from_state.apps.get_model(app_label, op.model_name_lower)._meta.db_table


def _only_not_null(op: AlterField, app_label: str, from_state: ProjectState) -> bool:
    """The field only becomes NOT NULL: no default to write into NULL rows (those are the
    backfill's), nothing else about the column changes."""
    if (app_label, op.model_name_lower) not in from_state.models:
        return False
    old = getattr(op, "previous_field", None) or from_state.models[
        app_label, op.model_name_lower
    ].fields.get(op.name)
    new = op.field
    if old is None or not old.null or new.null or new.has_default() or new.has_db_default():
        return False
    old_kwargs, new_kwargs = old.deconstruct()[3], new.deconstruct()[3]
    old_kwargs.pop("null", None)
    new_kwargs.pop("null", None)
    return type(old) is type(new) and old_kwargs == new_kwargs


def _not_null_names(
    op: AlterField, app_label: str, from_state: ProjectState
) -> tuple[str, str, str]:
    table = from_state.apps.get_model(app_label, op.model_name_lower)._meta.db_table
    field = op.field.clone()
    field.set_attributes_from_name(op.name)
    column = field.column
    name = f"{table}_{column}_not_null"
    if len(name) > 63:
        name = f"{name[:50]}_{sha256(name)[:8]}_nn"
    return table, column, name


def _not_null_check(
    op: AlterField, app_label: str, from_state: ProjectState
) -> SeparateDatabaseAndState:
    """The state becomes NOT NULL; the database gets CHECK (column IS NOT NULL) NOT VALID."""
    table, column, name = _not_null_names(op, app_label, from_state)
    return SeparateDatabaseAndState(
        database_operations=[
            RunSQL(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK ("{column}" IS NOT NULL) '
                "NOT VALID;",
                reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}";',
            )
        ],
        state_operations=[op],
    )


def _set_not_null(op: AlterField, app_label: str, from_state: ProjectState) -> list[RunSQL]:
    """VALIDATE the check (reads and writes go on), SET NOT NULL (no scan on PostgreSQL 12+: the
    validated check proves it), drop the check."""
    table, column, name = _not_null_names(op, app_label, from_state)
    add = f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK ("{column}" IS NOT NULL) NOT VALID;'
    return [
        RunSQL(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}";', reverse_sql=RunSQL.noop),
        RunSQL(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET NOT NULL;',
            reverse_sql=f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP NOT NULL;',
        ),
        RunSQL(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}";', reverse_sql=add),
    ]


def _nullable_foreign_key(op: AddField, app_label: str, from_state: ProjectState) -> bool:
    """A nullable foreign key with its constraint, added to a table that exists."""
    field = op.field
    return (
        (app_label, op.model_name_lower) in from_state.models
        and field.many_to_one
        and field.null
        and field.db_constraint
        and not field.has_default()
        and not field.has_db_default()
    )


def _foreign_key_sql(
    op: AddField, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> dict[str, Any]:
    """The constraint (NOT VALID), its validation and the column's index, as Django names them."""
    state = from_state.clone()
    op.state_forwards(app_label, state)
    model = state.apps.get_model(app_label, op.model_name_lower)
    field = model._meta.get_field(op.name)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        constraint = editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s")
        index = editor._create_index_sql(model, fields=[field]) if field.db_index else None
    table = model._meta.db_table
    name = constraint.parts["name"]
    drop = f'ALTER TABLE "{table}" DROP CONSTRAINT {name};'
    add = f"{constraint} NOT VALID;"
    result: dict[str, Any] = {
        "add": RunSQL(add, reverse_sql=drop),
        "validate": _validate(table, name, add, drop),
        "index": None,
    }
    if index is not None:
        create = str(index).replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1)
        result["index"] = RunSQL(
            f"{create};", reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {index.parts['name']};"
        )
    return result


def _column_then_not_valid(op: AddField, sql: dict[str, Any]) -> SeparateDatabaseAndState:
    """The state gets the foreign key; the database gets the column alone (metadata only),
    then the constraint NOT VALID (no scan); the index is built CONCURRENTLY later."""
    _name, _path, args, kwargs = op.field.deconstruct()
    bare = type(op.field)(*args, **{**kwargs, "db_constraint": False, "db_index": False})
    return SeparateDatabaseAndState(
        database_operations=[AddField(op.model_name, op.name, bare), sql["add"]],
        state_operations=[op],
    )


#: Django's statements for an index or a unique constraint on columns a table has.
INDEX = re.compile(r'^CREATE (?:UNIQUE )?INDEX "(?P<name>[^"]+)" ON ')
UNIQUE = re.compile(
    r'^ALTER TABLE "(?P<table>[^"]+)" ADD CONSTRAINT "(?P<name>[^"]+)" '
    r"UNIQUE \((?P<columns>[^)]*)\);?$"
)
#: Defaults a column can keep in the database as they are (no callable, nothing mutable).
KEPT_DEFAULT_TYPES = (str, int, float, Decimal)


def _django_sql(
    op: Any, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> list[str]:
    """The statements Django's schema editor would run for ``op`` (collected, not run)."""
    to_state = from_state.clone()
    op.state_forwards(app_label, to_state)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        op.database_forwards(app_label, editor, from_state, to_state)
    return [sql for sql in editor.collected_sql if sql.strip()]


def _concurrent_steps(statements: list[str]) -> list[RunSQL] | None:
    """Django's index and unique statements, each built without blocking writes: an index
    CONCURRENTLY, a unique constraint as its unique index CONCURRENTLY then ADD CONSTRAINT ...
    USING INDEX (no scan). None when another kind of statement is among them, or none is."""
    steps = []
    for sql in statements:
        if match := INDEX.match(sql):
            steps.append(
                RunSQL(
                    sql.replace("INDEX", "INDEX CONCURRENTLY", 1),
                    reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{match["name"]}";',
                )
            )
        elif match := UNIQUE.match(sql):
            table, name = match["table"], match["name"]
            steps += [
                RunSQL(
                    f'CREATE UNIQUE INDEX CONCURRENTLY "{name}" ON "{table}" ({match["columns"]});',
                    reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{name}";',
                ),
                RunSQL(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}";',
                    reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}";',
                ),
            ]
        else:
            return None
    return steps or None


def _index_only_change(op: AlterField, app_label: str, from_state: ProjectState) -> bool:
    """The field gains db_index=True or unique=True, had neither, and nothing else changes (a
    change that also drops an index is Django's to make: it finds the index's name in the
    database)."""
    if (app_label, op.model_name_lower) not in from_state.models:
        return False
    old = from_state.models[app_label, op.model_name_lower].fields.get(op.name)
    new = op.field
    if old is None or type(old) is not type(new) or old.db_index or old.unique:
        return False
    if not (new.db_index or new.unique) or new.primary_key:
        return False
    old_kwargs, new_kwargs = old.deconstruct()[3], new.deconstruct()[3]
    for key in ("db_index", "unique"):
        old_kwargs.pop(key, None)
        new_kwargs.pop(key, None)
    return old_kwargs == new_kwargs


def _added_column(
    op: AddField, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> tuple[SeparateDatabaseAndState, list[RunSQL], bool] | None:
    """A column added to a table that exists, rewritten when it has an index (built CONCURRENTLY
    after the migration) or is NOT NULL with a plain default (the default stays in the database,
    so INSERTs of the code still running, which does not know the column, keep working).
    Returns the operation, the index steps, and whether the default is kept."""
    field = op.field
    if (app_label, op.model_name_lower) not in from_state.models:
        return None
    if field.many_to_many or field.remote_field or field.primary_key or field.unique:
        return None
    keep_default = _keeps_default(field)
    steps: list[RunSQL] = []
    if field.db_index:
        statements = _django_sql(op, app_label, from_state, connection)
        steps = _concurrent_steps([sql for sql in statements if INDEX.match(sql)]) or []
    if not (keep_default or steps):
        return None
    _name, _path, args, kwargs = field.deconstruct()
    if steps:
        kwargs["db_index"] = False
    if keep_default:
        kwargs["db_default"] = field.default
    bare = type(field)(*args, **kwargs)
    column = SeparateDatabaseAndState(
        database_operations=[AddField(op.model_name, op.name, bare)], state_operations=[op]
    )
    return column, steps, keep_default


def _keeps_default(field: Any) -> bool:
    """NOT NULL with a plain default Django would drop from the database after adding it."""
    return (
        not field.null
        and field.has_default()
        and not callable(field.default)
        and isinstance(field.default, KEPT_DEFAULT_TYPES)
        and not field.has_db_default()
    )


def _column_name(op: Any) -> str:
    return f"the column {op.name}"


def _index_name(op: Any) -> str:
    kind = "unique index" if op.field.unique else "index"
    return f"the {kind} of {op.name}"


def _dropped_column(op: RemoveField, app_label: str, from_state: ProjectState) -> bool:
    if (app_label, op.model_name_lower) not in from_state.models:
        return False
    field = from_state.apps.get_model(app_label, op.model_name_lower)._meta.get_field(op.name)
    return bool(field.column) and not field.many_to_many


def _state_only_removal(
    op: RemoveField, app_label: str, from_state: ProjectState
) -> SeparateDatabaseAndState:
    """The field leaves Django's state; the column stays, made nullable so rows inserted by the
    new code (which does not set it) are accepted."""
    model = from_state.apps.get_model(app_label, op.model_name_lower)
    field = model._meta.get_field(op.name)
    database: list[Any] = []
    if not field.null and field.remote_field:
        # Django's AlterField of a foreign key drops its constraint and adds it back, checking
        # every row under lock: only the NOT NULL goes.
        table, column = model._meta.db_table, field.column
        alter = f'ALTER TABLE "{table}" ALTER COLUMN "{column}"'
        database.append(RunSQL(f"{alter} DROP NOT NULL;", reverse_sql=f"{alter} SET NOT NULL;"))
    elif not field.null:
        _n, _p, args, kwargs = field.deconstruct()
        nullable = type(field)(*args, **{**kwargs, "null": True})
        database.append(AlterField(op.model_name, op.name, nullable))
    return SeparateDatabaseAndState(database_operations=database, state_operations=[op])


def _drop_column_later(
    op: RemoveField, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> list[RunSQL]:
    """Drop the column (with a backup first when one was asked for); the rollback adds it back,
    nullable, with its constraints and index, and puts the backed-up values back."""
    model = from_state.apps.get_model(app_label, op.model_name_lower)
    field = model._meta.get_field(op.name)
    # A copy of the model's own field: a foreign key made anew from its deconstruction would
    # point at a model it cannot resolve.
    nullable = shallow_copy(field)
    nullable.null = True
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        editor.add_field(model, nullable)
    add_back = [sql for sql in editor.collected_sql if sql.strip()]
    table, column = model._meta.db_table, field.column
    drop_column = f'ALTER TABLE "{table}" DROP COLUMN "{column}" CASCADE;'
    name = getattr(op, "backup_table", None)
    if not name:
        return [RunSQL(drop_column, reverse_sql=add_back)]
    # The copy and the drop in one operation, so the analysis sees the drop is backed up.
    copy, restore, forget = backup_sql(model, field, name, connection.vendor)
    return [
        RunSQL(RunSQL.noop, reverse_sql=forget),
        RunSQL([copy, drop_column], reverse_sql=[*add_back, restore]),
    ]


def _drop_table_later(
    op: DeleteModel, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> list[RunSQL]:
    """Drop the table (after a backup when one was asked for); the rollback creates it again as
    Django would, and puts the backed-up rows back."""
    model = from_state.apps.get_model(app_label, op.name_lower)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        editor.delete_model(model)
    drop = [sql for sql in editor.collected_sql if sql.strip()]
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        editor.create_model(model)
    create = [sql for sql in editor.collected_sql if sql.strip()]
    name = getattr(op, "backup_table", None)
    if not name:
        return [RunSQL(drop, reverse_sql=create)]
    copy, restore, forget = table_backup_sql(model, name, connection.vendor)
    return [
        RunSQL(RunSQL.noop, reverse_sql=forget),
        RunSQL([copy, *drop], reverse_sql=[*create, *restore]),
    ]


def _removal_note(removes: list[Any], app_label: str, later: str) -> Callable[..., str]:
    names = ", ".join(
        f"{app_label}.{model_label(app_label, op.model_name)}.{op.name}"
        if isinstance(op, RemoveField)
        else f"the table of {app_label}.{op.name}"
        for op in removes
    )
    return lambda final_names, app: (
        f"Removes {names} from Django's state only (makesafemigration --safe): the columns and "
        "tables stay (a column made nullable), so the code still running keeps reading and "
        f"writing them. {app}.{final_names.get((app, later), later)} drops them: deploy that "
        "once no code uses them any more."
    )


def _operation_name(op: Any) -> str:
    if isinstance(op, AddConstraint):
        return op.constraint.name
    if isinstance(op, AlterField):
        return f"NOT NULL of {op.name}"
    if isinstance(op, AddField):
        return f"the foreign key {op.name}"
    if isinstance(op, RemoveField):
        return f"the column of {op.name}"
    if isinstance(op, DeleteModel):
        return "the table"
    return getattr(op, "name", None) or op.index.name


NOTES = {
    "keep default": (
        "Adds {names} with its default kept in the database (makesafemigration --safe): Django "
        "would drop it once the rows have it, and the code still running, which does not know "
        "the column, could then insert no row. Django's state is as makemigrations writes it; "
        "the database default is harmless to the new code, which always sets the column."
    ),
    "field index": (
        "Builds {names} CONCURRENTLY (makesafemigration --safe): writes to the table go on "
        "while it is built; a unique one then becomes the constraint (ADD CONSTRAINT ... USING "
        "INDEX, no scan). The migration is not atomic, as PostgreSQL requires.\n"
        "If the build fails it leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY), fix "
        "the rows if a unique one failed, and run the migration again."
    ),
    "drop later": (
        "Drops {names} (makesafemigration --safe), which an earlier migration removed from "
        "Django's state only: deploy it once no code running uses them. With a backup "
        "(--backup), rolling back puts the values back."
    ),
    "fk not valid": (
        "Adds {names} in steps (makesafemigration --safe): the column alone (no scan), then its "
        "constraint NOT VALID, which reads no row; the next migration validates it, and the "
        "column's index is built CONCURRENTLY."
    ),
    "fk validate": (
        "Validates {names} (SHARE UPDATE EXCLUSIVE on the table: reads and writes go on). A row "
        "pointing nowhere makes it fail, changing nothing."
    ),
    "not null check": (
        "Makes the column NOT NULL in two steps (makesafemigration --safe): {names} is checked "
        "by a CHECK (column IS NOT NULL) added NOT VALID, which reads no row; the next migration "
        "validates it and sets NOT NULL without reading the table again."
    ),
    "set not null": (
        "Validates the CHECK (column IS NOT NULL) of {names} (SHARE UPDATE EXCLUSIVE: reads and "
        "writes go on), sets NOT NULL, which PostgreSQL 12+ does without a scan thanks to the "
        "validated check, and drops the check. A row still NULL makes it fail, changing nothing."
    ),
    "unique index": (
        "Adds {names} without blocking writes (makesafemigration --safe): its unique index is "
        "built CONCURRENTLY, then made the constraint (ADD CONSTRAINT ... USING INDEX, no scan). "
        "The migration is not atomic, as PostgreSQL requires.\n"
        "If rows break the uniqueness the build fails and leaves an INVALID index: drop it "
        "(DROP INDEX CONCURRENTLY), fix the rows, and run the migration again."
    ),
    "build": (
        "Builds {names} CONCURRENTLY (makesafemigration --safe): writes to the table go on while "
        "the index is built; the migration is not atomic, as PostgreSQL requires.\n"
        "If the build fails it leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY) and "
        "run the migration again."
    ),
    "drop": (
        "Drops {names} CONCURRENTLY (makesafemigration --safe): queries and writes go on while "
        "the index is dropped; the migration is not atomic, as PostgreSQL requires."
    ),
    "not valid": (
        "Adds {names} NOT VALID (makesafemigration --safe): new and updated rows are checked "
        "from now on, and the table is not read; the next migration validates the rows already "
        "there."
    ),
    "validate": (
        "Validates {names} (makesafemigration --safe): the previous migration added it NOT "
        "VALID, without reading the table; VALIDATE CONSTRAINT reads it under SHARE UPDATE "
        "EXCLUSIVE, which lets reads and writes go on. It is a migration of its own because in "
        "the same transaction the first lock (ACCESS EXCLUSIVE) would last until the end of the "
        "scan.\n"
        "If a row breaks the constraint, this migration fails and the constraint stays NOT "
        "VALID: fix the rows and run it again."
    ),
}


def _joined(notes: list[Callable[..., str]]) -> Callable[..., str]:
    """One docstring of several notes (bound now, not when the docstring is written)."""
    return lambda final_names, app: "\n".join(note(final_names, app) for note in notes)


def _note(
    kind: str,
    operations: list[Any],
    app_label: str,
    what: Callable[[Any], str] = _operation_name,
) -> Callable[..., str]:
    names = ", ".join(
        f"{what(op)} on {app_label}."
        f"{model_label(app_label, getattr(op, 'model_name', None) or op.name)}"
        for op in operations
    )
    text = NOTES[kind].format(names=names)
    return lambda final_names, app: text


class Rewrite(NamedTuple):
    """What ``--safe`` would write instead of one operation, and which effects it takes away."""

    app_label: str
    migration: str
    #: The operation's index in the migration.
    operation: int
    text: str
    #: The finding effects (``Finding`` attributes) the rewrite takes away.
    fixes: tuple[str, ...]


#: A rewrite that keeps the table writable, and one that keeps the code still running working.
LOCKS = ("blocks_reads", "blocks_writes", "scan")
OLD_CODE = ("breaks_old_code",)


def would_rewrite(
    changes: dict[str, list[Migration]], from_state: ProjectState | None, vendor: str
) -> list[Rewrite]:
    """What ``--safe`` would rewrite in ``changes`` on ``vendor`` (nothing is changed)."""
    if from_state is None:
        return []
    return [
        Rewrite(app_label, migration.name, index, text, fixes)
        for app_label, migrations in changes.items()
        for migration in migrations
        for index, op in enumerate(migration.operations)
        for text, fixes in _rewrites_of(op, app_label, from_state, vendor)
    ]


def _rewrites_of(
    op: Any, app_label: str, from_state: ProjectState, vendor: str
) -> list[tuple[str, tuple[str, ...]]]:
    renamed = rename_rewrites.renamed_names(op, app_label, from_state)
    if renamed:
        kind, old, _new = renamed
        owner = (
            f"{app_label}.{model_label(app_label, op.model_name)}.{op.new_name}"
            if isinstance(op, RenameField)
            else f"{app_label}.{model_label(app_label, op.new_name)}"
        )
        keyword = "db_column" if kind == "column" else "db_table"
        text = (
            f"{kind} of {owner}: keeps its name {old!r} ({keyword} added to the model's source), "
            "the rename runs no SQL"
        )
        return [(text, OLD_CODE)]
    if vendor not in VENDORS:
        return []
    if isinstance(op, DeleteModel):
        if (app_label, op.name_lower) not in from_state.models:
            return []
        text = (
            f"table of {app_label}.{model_label(app_label, op.name)}: leaves the state first, "
            "dropped by a later migration"
        )
        return [(text, OLD_CODE)]
    if (app_label, getattr(op, "model_name_lower", "")) not in from_state.models:
        return []
    what = f"{app_label}.{model_label(app_label, op.model_name)}"
    if isinstance(op, RemoveField) and _dropped_column(op, app_label, from_state):
        text = f"column {what}.{op.name}: leaves the state first, dropped by a later migration"
        return [(text, OLD_CODE)]
    if isinstance(op, AddIndex):
        return [(f"index {op.index.name} on {what}: built CONCURRENTLY", LOCKS)]
    if isinstance(op, RemoveIndex):
        return [(f"index {op.name} on {what}: dropped CONCURRENTLY", LOCKS)]
    if isinstance(op, AddConstraint) and isinstance(op.constraint, CheckConstraint):
        text = f"check {op.constraint.name} on {what}: added NOT VALID, validated next"
        return [(text, LOCKS)]
    if isinstance(op, AddField) and _nullable_foreign_key(op, app_label, from_state):
        text = (
            f"foreign key {what}.{op.name}: added NOT VALID, validated next, its index built "
            "CONCURRENTLY"
        )
        return [(text, LOCKS)]
    if isinstance(op, AlterField) and _only_not_null(op, app_label, from_state):
        text = (
            f"NOT NULL of {what}.{op.name}: a CHECK added NOT VALID, validated next, then SET "
            "NOT NULL without a scan"
        )
        return [(text, LOCKS)]
    if isinstance(op, AlterField) and _index_only_change(op, app_label, from_state):
        kind = "unique" if op.field.unique else "index"
        return [(f"{kind} of {what}.{op.name}: built CONCURRENTLY", LOCKS)]
    if isinstance(op, AddField) and not (
        op.field.remote_field or op.field.many_to_many or op.field.unique
    ):
        found = []
        if op.field.db_index:
            text = f"index of the new column {what}.{op.name}: built CONCURRENTLY after the column"
            found.append((text, LOCKS))
        if _keeps_default(op.field):
            text = (
                f"default of the new column {what}.{op.name}: kept in the database, so the "
                "INSERTs of the code still running keep working"
            )
            found.append((text, OLD_CODE))
        return found
    if isinstance(op, AddConstraint) and _plain_unique(
        op.constraint, app_label, op.model_name_lower, from_state
    ):
        return [(f"unique {op.constraint.name} on {what}: its index built CONCURRENTLY", LOCKS)]
    return []


def mark_fixable(findings: Iterable[Any], rewrites: list[Rewrite]) -> None:
    """Each finding of the migration's operations that ``--safe`` would take away says how
    (``safe_rewrite``): a forward finding whose effects are among those of the rewrite."""
    by_operation: dict[int, list[Rewrite]] = {}
    for rewrite in rewrites:
        by_operation.setdefault(rewrite.operation, []).append(rewrite)
    for finding in findings:
        if finding.direction != "forward":
            continue
        fixing = [
            rewrite.text
            for rewrite in by_operation.get(finding.operation, [])
            if any(getattr(finding, effect) for effect in rewrite.fixes)
        ]
        if fixing:
            finding.safe_rewrite = "; ".join(fixing)
