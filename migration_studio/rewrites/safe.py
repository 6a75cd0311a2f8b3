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

from collections.abc import Callable
from typing import Any

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
    RunSQL,
    SeparateDatabaseAndState,
)
from django.db.migrations.state import ProjectState
from django.db.models import CheckConstraint

from .. import conf
from . import renames as rename_rewrites
from .columns import added_column, index_only_change
from .concurrently import concurrent_steps, django_sql
from .constraints import (
    check_sql,
    column_then_not_valid,
    foreign_key_sql,
    not_null_check,
    not_valid,
    nullable_foreign_key,
    only_not_null,
    plain_unique,
    set_not_null,
    table_of,
    unique_constraint,
    validate_step,
)
from .fill import fill_and_check, fills_nulls, set_default
from .notes import column_name, index_name, joined, note, removal_note
from .renames import Renames
from .twophase import drop_column_later, drop_table_later, dropped_column, state_only_removal

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

        kept = [found for op in migration.operations if renames and (found := renames.of(op))]
        # What the rewrites that avoid locks look at: nothing but on PostgreSQL.
        operations = migration.operations if locks else []

        def of(kind: type, test: Callable[..., bool]) -> list[Any]:
            """The operations of ``kind`` that ``test(op, app_label, from_state)`` accepts."""
            return [
                op for op in operations if isinstance(op, kind) and test(op, app_label, from_state)
            ]

        drops = of(RemoveIndex, _existing)
        builds = of(AddIndex, _existing)
        checks = of(AddConstraint, _existing_check)
        uniques = of(AddConstraint, _unique_on_columns)
        not_nulls = of(AlterField, only_not_null)
        filled = of(AlterField, fills_nulls)
        foreign_keys = of(AddField, nullable_foreign_key)
        removes = of(RemoveField, dropped_column)
        deletes = of(DeleteModel, _existing_model)
        indexed = {
            op: steps
            for op in of(AlterField, index_only_change)
            if (steps := concurrent_steps(django_sql(op, app_label, from_state, connection)))
        }
        added = {
            op: parts
            for op in of(AddField, lambda *_: True)
            if op not in foreign_keys
            and (parts := added_column(op, app_label, from_state, connection))
        }
        lists = [drops, builds, checks, uniques, not_nulls, filled, foreign_keys, removes, deletes]
        if not (any(lists) or indexed or added or kept):
            return None
        check_sqls = {op: check_sql(op, app_label, from_state, connection) for op in checks}
        fk_sql = {op: foreign_key_sql(op, app_label, from_state, connection) for op in foreign_keys}

        def safer(op: Any) -> list[Any]:
            if renames and (found := renames.of(op)):
                return rename_rewrites.operations(found)
            if op in checks:
                return [not_valid(op, check_sqls[op])]
            if op in filled:
                return [set_default(op, app_label, from_state, connection)]
            if op in not_nulls:
                return [not_null_check(op, app_label, from_state)]
            if op in foreign_keys:
                return [column_then_not_valid(op, fk_sql[op])]
            if op in removes and op.model_name_lower in deleted:
                return [SeparateDatabaseAndState(state_operations=[op])]  # the table stays whole
            if op in removes:
                return [state_only_removal(op, app_label, from_state)]
            if op in deletes:
                return [SeparateDatabaseAndState(state_operations=[op])]
            if op in added:
                return [added[op][0]]
            return [op]

        deleted = {op.name_lower for op in deletes}
        # What the notes name: the columns of a deleted model go with its table.
        dropped = [op for op in removes if op.model_name_lower not in deleted] + deletes
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
            first.plan_note = note("drop", drops, app_label)
            add(first, f"{suffix}_drop_indexes" if rest or builds else suffix)
        if uniques:
            index = Migration(f"__unique_{position}", app_label)
            index.operations = [unique_constraint(op, app_label, from_state) for op in uniques]
            index.atomic = False
            index.plan_note = note("unique index", uniques, app_label)
            add(index, f"{suffix}_unique" if rest or drops or builds else suffix)
        if rest:
            main = Migration(f"__main_{position}", app_label)
            main.operations = rest
            main.initial = migration.initial
            notes = [rename_rewrites.note(kept)] if kept else []
            notes += [note("not valid", checks, app_label)] if checks else []
            notes += [note("not null check", not_nulls, app_label)] if not_nulls else []
            notes += [note("fill default", filled, app_label)] if filled else []
            notes += [note("fk not valid", foreign_keys, app_label)] if foreign_keys else []
            defaults = [op for op in added if added[op][2]]
            notes += [note("keep default", defaults, app_label, column_name)] if defaults else []
            if removes or deletes:
                notes.append(removal_note(dropped, app_label, f"__droplater_{position}"))
            if notes:
                main.plan_note = joined(notes)
            add(main, suffix)
        if filled:
            fill = Migration(f"__fill_{position}", app_label)
            fill.operations = [
                step
                for op in filled
                for step in fill_and_check(op, app_label, from_state, connection)
            ]
            fill.atomic = False
            fill.plan_note = note("fill", filled, app_label)
            add(fill, f"{suffix}_fill")
        if checks or not_nulls or foreign_keys or filled:
            validate = Migration(f"__validate_{position}", app_label)
            validate.operations = (
                [
                    validate_step(
                        table_of(op, app_label, from_state), f'"{op.constraint.name}"', *sql
                    )
                    for op, sql in check_sqls.items()
                ]
                + [step for op in not_nulls for step in set_not_null(op, app_label, from_state)]
                + [fk_sql[op]["validate"] for op in foreign_keys]
                + [step for op in filled for step in set_not_null(op, app_label, from_state)]
            )
            notes = [note("validate", checks, app_label)] if checks else []
            notes += (
                [note("set not null", [*not_nulls, *filled], app_label)]
                if not_nulls or filled
                else []
            )
            notes += [note("fk validate", foreign_keys, app_label)] if foreign_keys else []
            validate.plan_note = joined(notes)
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
                [note("build", builds + foreign_keys, app_label)] if builds or foreign_keys else []
            )
            if indexed or column_indexes:
                notes.append(
                    note("field index", [*indexed, *column_indexes], app_label, index_name)
                )
            last.plan_note = joined(notes)
            add(last, f"{suffix}_indexes" if rest or drops else suffix)
        if removes or deletes:
            # Columns first: a foreign key column dropped here may point at a table dropped here.
            later = Migration(f"__droplater_{position}", app_label)
            # A column of a table dropped here goes with the table (and its backup).
            later.operations = [
                step
                for op in removes
                if op.model_name_lower not in deleted
                for step in drop_column_later(op, app_label, from_state, connection)
            ] + [
                step
                for op in deletes
                for step in drop_table_later(op, app_label, from_state, connection)
            ]
            later.plan_note = note("drop later", dropped, app_label)
            add(later, f"{suffix}_drop_later")
        return result

    return stages


def _existing(op: Any, app_label: str, from_state: ProjectState) -> bool:
    """The operation's model has a table before the migration (so it may hold rows)."""
    return (app_label, op.model_name_lower) in from_state.models


def _existing_model(op: DeleteModel, app_label: str, from_state: ProjectState) -> bool:
    return (app_label, op.name_lower) in from_state.models


def _existing_check(op: AddConstraint, app_label: str, from_state: ProjectState) -> bool:
    return isinstance(op.constraint, CheckConstraint) and _existing(op, app_label, from_state)


def _unique_on_columns(op: AddConstraint, app_label: str, from_state: ProjectState) -> bool:
    return plain_unique(op.constraint, app_label, op.model_name_lower, from_state)


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
