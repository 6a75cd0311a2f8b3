"""Safe rewrites (``makesafemigration --safe``, PostgreSQL): the version of a migration that keeps
its tables writable, with Django's migration state unchanged.

Index builds and drops on tables that exist before the migration move to migrations of their own
that are not atomic and run ``CREATE INDEX CONCURRENTLY`` / ``DROP INDEX CONCURRENTLY``
(``AddIndexConcurrently``, ``RemoveIndexConcurrently``): writes go on while the index is built.
Drops come before the rest of the migration (a dropped column would take its indexes with it),
builds after it (an index may cover a column the migration adds).
"""

from __future__ import annotations

from typing import Any

from django.db.migrations import AddIndex, Migration, RemoveIndex
from django.db.migrations.state import ProjectState

from .backfill import model_label

VENDORS = ("postgresql",)


def index_stager(from_state: ProjectState | None) -> Any:
    """The stager :func:`.expand.split` calls for each migration without a plan of its own."""

    def stages(migration: Migration, position: int) -> list[tuple[Migration, str]] | None:
        existing = from_state.models if from_state is not None else {}
        app_label = migration.app_label

        def on_existing(op: Any) -> bool:
            return (app_label, op.model_name_lower) in existing

        drops = [
            op for op in migration.operations if isinstance(op, RemoveIndex) and on_existing(op)
        ]
        builds = [op for op in migration.operations if isinstance(op, AddIndex) and on_existing(op)]
        if not drops and not builds:
            return None
        from django.contrib.postgres.operations import (
            AddIndexConcurrently,
            RemoveIndexConcurrently,
        )

        rest = [op for op in migration.operations if op not in drops and op not in builds]
        suffix = migration.name.split("_", 1)[1] if "_" in migration.name else migration.name
        result: list[tuple[Migration, str]] = []
        previous = list(migration.dependencies)
        if drops:
            first = Migration(f"__drop_{position}", app_label)
            first.operations = [RemoveIndexConcurrently(op.model_name, op.name) for op in drops]
            first.dependencies = previous
            first.atomic = False
            first.plan_note = _note("drop", drops, app_label)
            result.append((first, f"{suffix}_drop_indexes" if rest or builds else suffix))
            previous = [(app_label, first.name)]
        if rest:
            main = Migration(f"__main_{position}", app_label)
            main.operations = rest
            main.dependencies = previous
            main.initial = migration.initial
            result.append((main, suffix))
            previous = [(app_label, main.name)]
        if builds:
            last = Migration(f"__build_{position}", app_label)
            last.operations = [AddIndexConcurrently(op.model_name, op.index) for op in builds]
            last.dependencies = previous
            last.atomic = False
            last.plan_note = _note("build", builds, app_label)
            result.append((last, f"{suffix}_indexes" if rest or drops else suffix))
        return result

    return stages


def _note(kind: str, operations: list[Any], app_label: str) -> Any:
    names = ", ".join(
        f"{getattr(op, 'name', None) or op.index.name} on "
        f"{app_label}.{model_label(app_label, op.model_name)}"
        for op in operations
    )
    if kind == "build":
        text = (
            f"Builds {names} CONCURRENTLY (makesafemigration --safe): writes to the table go on "
            "while the index is built; the migration is not atomic, as PostgreSQL requires.\n"
            "If the build fails it leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY) "
            "and run the migration again."
        )
    else:
        text = (
            f"Drops {names} CONCURRENTLY (makesafemigration --safe): queries and writes go on "
            "while the index is dropped; the migration is not atomic, as PostgreSQL requires."
        )
    return lambda names_, app: text
