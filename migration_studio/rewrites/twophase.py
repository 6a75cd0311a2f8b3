"""Drops in two phases (``makesafemigration --safe``, PostgreSQL): a column or table leaves
Django's state first, and a migration written last drops it (after a backup when one was asked
for), so the code still running never reads what is gone."""

from __future__ import annotations

from copy import copy as shallow_copy
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import (
    AlterField,
    DeleteModel,
    RemoveField,
    RunSQL,
    SeparateDatabaseAndState,
)
from django.db.migrations.state import ProjectState

from .backup import backup_sql, table_backup_sql


def dropped_column(op: RemoveField, app_label: str, from_state: ProjectState) -> bool:
    if (app_label, op.model_name_lower) not in from_state.models:
        return False
    field = from_state.apps.get_model(app_label, op.model_name_lower)._meta.get_field(op.name)
    return bool(field.column) and not field.many_to_many


def state_only_removal(
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


def drop_column_later(
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


def drop_table_later(
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
