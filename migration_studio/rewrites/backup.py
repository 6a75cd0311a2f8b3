"""Loss-free rollback of a dropped column or table (``makesafemigration --backup``): before the
column is dropped, its values are copied with the primary key into a backup table; the rollback
adds the column back (nullable), puts the values back from the backup, restores NOT NULL and
drops the backup. A dropped table is copied whole, and its rows are put back into the table the
rollback creates again. Django's state is the plain ``RemoveField``'s or ``DeleteModel``'s.

In the migration's database operations, in order (the rollback runs them backwards):

1. nothing forwards; backwards, drop the backup table (last);
2. the column made nullable (``AlterField``); backwards, NOT NULL again, after the values are back;
3. ``CREATE TABLE <backup> AS SELECT <pk>, <column>, CURRENT_TIMESTAMP AS ms_backed_up_at FROM
   <table>``; backwards, the values copied back by primary key;
4. the column dropped (``RemoveField`` of the nullable column); backwards, added back nullable.

Backup tables are named ``ms_backup_<hash>_<table>``: the hash is of the migration and the
column, so they cannot collide with the app's tables, and the same migration always uses the same
name.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations import (
    AlterField,
    DeleteModel,
    Migration,
    RemoveField,
    RunSQL,
    SeparateDatabaseAndState,
)
from django.db.migrations.state import ProjectState

from ..bundle.model import sha256
from ..sql.text import BACKED_UP_AT, quote_identifier
from ..sql.text import BACKUP_TABLE_PREFIX as PREFIX


def backup_name(label: str, table: str, column: str) -> str:
    return f"{PREFIX}{sha256(f'{label}.{table}.{column}')[:8]}_{table}"[:63]


def protect(
    changes: dict[str, list[Migration]],
    from_state: ProjectState | None,
    vendor: str,
    wanted: Any,
    *,
    later: bool = False,
) -> list[str]:
    """Rewrite each ``RemoveField`` of a table that exists before, for which ``wanted(table)``
    says yes, to keep a backup of the column; the backup tables' names, for the output. With
    ``later`` (``--safe``, which drops the column in a later migration) the operation is only
    marked (``backup_table``) for that migration to make the backup."""
    if from_state is None:
        return []
    made = []
    for app_label, migrations in changes.items():
        for migration in migrations:
            # --safe drops the table of a deleted model whole, its columns with it.
            deleted = {op.name_lower for op in migration.operations if isinstance(op, DeleteModel)}
            for index, op in enumerate(migration.operations):
                if isinstance(op, DeleteModel):
                    key = (app_label, op.name_lower)
                    if key not in from_state.models:
                        continue
                    model = from_state.apps.get_model(*key)
                    table = model._meta.db_table
                    if not wanted(table):
                        continue
                    if not later:
                        # The table as it is dropped: the columns removed before it (its
                        # foreign keys, which Django removes first) have their own backups.
                        model = _state_before(
                            from_state, app_label, migration, index
                        ).apps.get_model(*key)
                    name = backup_name(f"{app_label}.{migration.name}", table, "")
                    if later:
                        op.backup_table = name
                    else:
                        copy, restore, drop = table_backup_sql(model, name, vendor)
                        migration.operations[index] = SeparateDatabaseAndState(
                            database_operations=[
                                RunSQL(RunSQL.noop, reverse_sql=drop),
                                RunSQL(copy, reverse_sql=restore),
                                DeleteModel(op.name),
                            ],
                            state_operations=[op],
                        )
                    made.append(name)
                    continue
                if not isinstance(op, RemoveField):
                    continue
                key = (app_label, op.model_name_lower)
                if key not in from_state.models or (later and op.model_name_lower in deleted):
                    continue
                model = from_state.apps.get_model(*key)
                field = model._meta.get_field(op.name)
                if field.many_to_many or not field.column or not wanted(model._meta.db_table):
                    continue
                label = f"{app_label}.{migration.name}"
                name = backup_name(label, model._meta.db_table, field.column)
                if later:
                    op.backup_table = name
                else:
                    migration.operations[index] = _with_backup(op, model, field, name, vendor)
                made.append(name)
    return made


def _state_before(
    from_state: ProjectState, app_label: str, migration: Migration, index: int
) -> ProjectState:
    """The state the migration's operation ``index`` starts from."""
    state = from_state.clone()
    for operation in migration.operations[:index]:
        operation.state_forwards(app_label, state)
    return state


def backup_sql(model: Any, field: Any, name: str, vendor: str) -> tuple[str, str, str]:
    """(copy the column into the backup, put the values back, drop the backup)."""

    def q(identifier: str) -> str:
        return quote_identifier(identifier, vendor)

    table, column, pk = model._meta.db_table, field.column, model._meta.pk.column
    return (
        f"CREATE TABLE {q(name)} AS SELECT {q(pk)}, {q(column)}, CURRENT_TIMESTAMP AS "
        f"{q(BACKED_UP_AT)} FROM {q(table)};",
        f"UPDATE {q(table)} SET {q(column)} = (SELECT b.{q(column)} FROM {q(name)} b WHERE "
        f"b.{q(pk)} = {q(table)}.{q(pk)});",
        f"DROP TABLE {q(name)};",
    )


def table_backup_sql(model: Any, name: str, vendor: str) -> tuple[str, list[str], str]:
    """(copy the table into the backup, put the rows back, drop the backup). On PostgreSQL the
    primary key's sequence is moved past the rows put back."""

    def q(identifier: str) -> str:
        return quote_identifier(identifier, vendor)

    table = model._meta.db_table
    columns = ", ".join(q(f.column) for f in model._meta.concrete_fields if f.column)
    restore = [f"INSERT INTO {q(table)} ({columns}) SELECT {columns} FROM {q(name)};"]
    pk = model._meta.pk
    if vendor == "postgresql" and pk.get_internal_type() in (
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
    ):
        restore.append(
            f"SELECT setval(pg_get_serial_sequence('{q(table)}', '{pk.column}'), "
            f"COALESCE(MAX({q(pk.column)}), 1)) FROM {q(table)};"
        )
    return (
        f"CREATE TABLE {q(name)} AS SELECT *, CURRENT_TIMESTAMP AS {q(BACKED_UP_AT)} FROM "
        f"{q(table)};",
        restore,
        f"DROP TABLE {q(name)};",
    )


def _with_backup(op: RemoveField, model: Any, field: Any, name: str, vendor: str) -> Any:
    _n, _p, args, kwargs = field.deconstruct()
    nullable = type(field)(*args, **{**kwargs, "null": True})
    copy, restore, drop = backup_sql(model, field, name, vendor)
    database: list[Any] = [RunSQL(RunSQL.noop, reverse_sql=drop)]
    if not field.null:
        database.append(AlterField(op.model_name, op.name, nullable))
    database += [RunSQL(copy, reverse_sql=restore), RemoveField(op.model_name, op.name)]
    return SeparateDatabaseAndState(database_operations=database, state_operations=[op])
