"""A column made NOT NULL with a default for its NULL rows (``makesafemigration --safe``,
PostgreSQL). Django sets the default, updates every NULL row and sets NOT NULL in one transaction,
which holds ACCESS EXCLUSIVE on the table throughout. Here:

1. the column gets its default (for the rows inserted from now on);
2. a migration that is not atomic fills the NULL rows in batches of primary keys, each committed
   on its own (a DO block: PostgreSQL 11+), adds CHECK (column IS NOT NULL) NOT VALID, and fills
   again the rows the code still running inserted meanwhile;
3. the next validates the check, sets NOT NULL without a scan, and drops the check.

The default stays in the database (Django drops it): a writer that leaves the column out keeps
working. Django's state is as ``makemigrations`` writes it.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import AlterField, RunSQL, SeparateDatabaseAndState
from django.db.migrations.state import ProjectState

from .columns import KEPT_DEFAULT_TYPES
from .constraints import becomes_not_null, not_null_check, not_null_names

#: Primary keys per batch: each batch is one short UPDATE, committed before the next.
BATCH = 5000


def fills_nulls(op: AlterField, app_label: str, from_state: ProjectState) -> bool:
    """The field becomes NOT NULL with a plain default for its NULL rows, on a table with an
    integer primary key to walk."""
    fields = becomes_not_null(op, app_label, from_state)
    if fields is None:
        return False
    new = fields[1]
    if not new.has_default() or not isinstance(new.default, KEPT_DEFAULT_TYPES):
        return False
    pk = from_state.apps.get_model(app_label, op.model_name_lower)._meta.pk
    return pk.get_internal_type() in ("AutoField", "BigAutoField", "SmallAutoField")


def set_default(
    op: AlterField, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> SeparateDatabaseAndState:
    """The state becomes NOT NULL; the database gets the column's default, for the rows inserted
    from now on (it stays: a writer that leaves the column out keeps working)."""
    alter = _alter(op, app_label, from_state)
    return SeparateDatabaseAndState(
        database_operations=[
            RunSQL(
                f"{alter} SET DEFAULT {_literal(op, connection)};",
                reverse_sql=f"{alter} DROP DEFAULT;",
            )
        ],
        state_operations=[op],
    )


def fill_and_check(
    op: AlterField, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> list[RunSQL]:
    """The NULL rows filled, the CHECK added NOT VALID, and the rows inserted with NULL before it
    filled too: once this has run, no row is NULL and none can become so."""
    fill = fill_in_batches(op, app_label, from_state, connection)
    check = not_null_check(op, app_label, from_state).database_operations
    return [fill, *check, fill]


def fill_in_batches(
    op: AlterField, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> RunSQL:
    """The NULL rows get the default, :data:`BATCH` primary keys at a time, each batch committed
    (row locks only, held for one batch). Rolling back leaves the values: NULL was not kept."""
    table, column, _ = not_null_names(op, app_label, from_state)
    pk = from_state.apps.get_model(app_label, op.model_name_lower)._meta.pk.column
    value = _literal(op, connection)
    return RunSQL(
        f"""DO $fill$
DECLARE
  low bigint;
  high bigint;
BEGIN
  SELECT min("{pk}"), max("{pk}") INTO low, high FROM "{table}";
  WHILE low <= high LOOP
    UPDATE "{table}" SET "{column}" = {value}
      WHERE "{pk}" >= low AND "{pk}" < low + {BATCH} AND "{column}" IS NULL;
    COMMIT;
    low := low + {BATCH};
  END LOOP;
END
$fill$;""",
        reverse_sql=RunSQL.noop,
    )


def _literal(op: AlterField, connection: BaseDatabaseWrapper) -> str:
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        return str(editor.quote_value(op.field.get_db_prep_save(op.field.default, connection)))


def _alter(op: AlterField, app_label: str, from_state: ProjectState) -> str:
    table, column, _ = not_null_names(op, app_label, from_state)
    return f'ALTER TABLE "{table}" ALTER COLUMN "{column}"'
