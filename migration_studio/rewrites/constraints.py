"""Constraints added without a scan under a lock (``makesafemigration --safe``, PostgreSQL): CHECK
constraints and foreign keys ``NOT VALID`` then ``VALIDATE CONSTRAINT``, unique constraints made
of an index built ``CONCURRENTLY``, and NOT NULL through a validated CHECK."""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import (
    AddConstraint,
    AddField,
    AlterField,
    RunSQL,
    SeparateDatabaseAndState,
)
from django.db.migrations.state import ProjectState
from django.db.models import UniqueConstraint

from ..bundle.model import sha256
from .concurrently import concurrent_steps


def check_sql(
    op: AddConstraint, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> tuple[str, str]:
    """The CHECK added NOT VALID, and dropped, as Django writes them."""
    model = from_state.apps.get_model(app_label, op.model_name_lower)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        add = str(op.constraint.create_sql(model, editor)).rstrip(";")
        drop = str(op.constraint.remove_sql(model, editor)).rstrip(";")
    return f"{add} NOT VALID;", f"{drop};"


def not_valid(op: AddConstraint, sql: tuple[str, str]) -> SeparateDatabaseAndState:
    """The CHECK added NOT VALID (no scan); Django's state gets the constraint as it is."""
    add, drop = sql
    return SeparateDatabaseAndState(
        database_operations=[RunSQL(add, reverse_sql=drop)], state_operations=[op]
    )


def plain_unique(
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


def table_columns(op: AddConstraint, app_label: str, from_state: ProjectState) -> tuple[str, str]:
    model = from_state.apps.get_model(app_label, op.model_name_lower)
    columns = ", ".join(f'"{model._meta.get_field(name).column}"' for name in op.constraint.fields)
    return model._meta.db_table, columns


def unique_constraint(
    op: AddConstraint, app_label: str, from_state: ProjectState
) -> SeparateDatabaseAndState:
    """The constraint's unique index built without blocking writes, then the constraint made of
    it (no scan). Rolling back drops the constraint, which takes the index with it."""
    table, columns = table_columns(op, app_label, from_state)
    add = f'ALTER TABLE "{table}" ADD CONSTRAINT "{op.constraint.name}" UNIQUE ({columns});'
    return SeparateDatabaseAndState(
        database_operations=concurrent_steps([add]), state_operations=[op]
    )


def validate_step(table: str, name: str, add: str, drop: str) -> RunSQL:
    """VALIDATE CONSTRAINT; rolling back makes the constraint NOT VALID again (dropped and added
    back NOT VALID: a brief lock, no scan), as it was before."""
    return RunSQL(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT {name};', reverse_sql=[drop, add])


def table_of(op: Any, app_label: str, from_state: ProjectState) -> str:
    return from_state.apps.get_model(app_label, op.model_name_lower)._meta.db_table


def only_not_null(op: AlterField, app_label: str, from_state: ProjectState) -> bool:
    """The field only becomes NOT NULL: no default to write into NULL rows (those are the
    backfill's), nothing else about the column changes."""
    fields = becomes_not_null(op, app_label, from_state)
    return fields is not None and not fields[1].has_default()


def becomes_not_null(
    op: AlterField, app_label: str, from_state: ProjectState
) -> tuple[Any, Any] | None:
    """(the field before, after) when it becomes NOT NULL, maybe with a default for its NULL
    rows, and nothing else about the column changes; None otherwise."""
    if (app_label, op.model_name_lower) not in from_state.models:
        return None
    old = getattr(op, "previous_field", None) or from_state.models[
        app_label, op.model_name_lower
    ].fields.get(op.name)
    new = op.field
    if old is None or not old.null or new.null or new.has_db_default() or old.has_db_default():
        return None
    old_kwargs, new_kwargs = old.deconstruct()[3], new.deconstruct()[3]
    for key in ("null", "default"):
        old_kwargs.pop(key, None)
        new_kwargs.pop(key, None)
    return (old, new) if type(old) is type(new) and old_kwargs == new_kwargs else None


def not_null_names(
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


def not_null_check(
    op: AlterField, app_label: str, from_state: ProjectState
) -> SeparateDatabaseAndState:
    """The state becomes NOT NULL; the database gets CHECK (column IS NOT NULL) NOT VALID."""
    table, column, name = not_null_names(op, app_label, from_state)
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


def set_not_null(op: AlterField, app_label: str, from_state: ProjectState) -> list[RunSQL]:
    """VALIDATE the check (reads and writes go on), SET NOT NULL (no scan on PostgreSQL 12+: the
    validated check proves it), drop the check."""
    table, column, name = not_null_names(op, app_label, from_state)
    add = f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK ("{column}" IS NOT NULL) NOT VALID;'
    return [
        RunSQL(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}";', reverse_sql=RunSQL.noop),
        RunSQL(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET NOT NULL;',
            reverse_sql=f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP NOT NULL;',
        ),
        RunSQL(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}";', reverse_sql=add),
    ]


def nullable_foreign_key(op: AddField, app_label: str, from_state: ProjectState) -> bool:
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


def foreign_key_sql(
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
        "validate": validate_step(table, name, add, drop),
        "index": None,
    }
    if index is not None:
        create = str(index).replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1)
        result["index"] = RunSQL(
            f"{create};", reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {index.parts['name']};"
        )
    return result


def column_then_not_valid(op: AddField, sql: dict[str, Any]) -> SeparateDatabaseAndState:
    """The state gets the foreign key; the database gets the column alone (metadata only),
    then the constraint NOT VALID (no scan); the index is built CONCURRENTLY later."""
    _name, _path, args, kwargs = op.field.deconstruct()
    bare = type(op.field)(*args, **{**kwargs, "db_constraint": False, "db_index": False})
    return SeparateDatabaseAndState(
        database_operations=[AddField(op.model_name, op.name, bare), sql["add"]],
        state_operations=[op],
    )
