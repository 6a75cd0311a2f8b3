"""Index and unique statements built without blocking writes (``makesafemigration --safe``,
PostgreSQL): the statements Django's schema editor would run for a change, collected, and their
``CONCURRENTLY`` versions (a unique constraint: its unique index ``CONCURRENTLY``, then the
constraint ``USING INDEX``)."""

from __future__ import annotations

import re
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import RunSQL
from django.db.migrations.state import ProjectState

#: Django's statements for an index or a unique constraint on columns a table has.
INDEX = re.compile(r'^CREATE (?:UNIQUE )?INDEX "(?P<name>[^"]+)" ON ')
UNIQUE = re.compile(
    r'^ALTER TABLE "(?P<table>[^"]+)" ADD CONSTRAINT "(?P<name>[^"]+)" '
    r"UNIQUE \((?P<columns>[^)]*)\);?$"
)


def django_sql(
    op: Any, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> list[str]:
    """The statements Django's schema editor would run for ``op`` (collected, not run)."""
    to_state = from_state.clone()
    op.state_forwards(app_label, to_state)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        op.database_forwards(app_label, editor, from_state, to_state)
    return [sql for sql in editor.collected_sql if sql.strip()]


def concurrent_steps(statements: list[str]) -> list[RunSQL] | None:
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
