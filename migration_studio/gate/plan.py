"""The migrations ``migrate`` would apply on the target, in its order (as ``migrate --plan``)."""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import Migration
from django.db.migrations.exceptions import AmbiguityError, InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from ..exceptions import GateError


def deployment_plan(
    connection: BaseDatabaseWrapper, app_label: str | None = None, name: str | None = None
) -> tuple[list[Migration], MigrationLoader]:
    """What ``migrate [app_label [name]]`` would apply on ``connection`` (reading
    ``django_migrations`` only), and the loader that read it. A plan that unapplies migrations is
    refused (a rollback is not a deployment)."""
    executor = MigrationExecutor(connection)
    loader = executor.loader
    try:
        loader.check_consistent_history(connection)
    except InconsistentMigrationHistory as error:
        raise GateError(f"The migration history of the database is inconsistent: {error}") from None
    conflicts = loader.detect_conflicts()
    if conflicts:
        names = "; ".join(f"{', '.join(sorted(n))} in {app}" for app, n in conflicts.items())
        raise GateError(
            f"Conflicting migrations detected ({names}): merge them (manage.py makemigrations "
            "--merge) before deploying."
        )
    if app_label is not None:
        if app_label not in loader.migrated_apps:
            raise GateError(f"App '{app_label}' does not have migrations.")
        if name:
            try:
                migration = loader.get_migration_by_prefix(app_label, name)
            except AmbiguityError:
                raise GateError(
                    f"More than one migration matches '{name}' in app '{app_label}'. "
                    "Please be more specific."
                ) from None
            except KeyError:
                raise GateError(
                    f"Cannot find a migration matching '{name}' from app '{app_label}'."
                ) from None
            targets = [(app_label, migration.name)]
        else:
            targets = [node for node in loader.graph.leaf_nodes() if node[0] == app_label]
    else:
        targets = loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    backwards = [f"{m.app_label}.{m.name}" for m, back in plan if back]
    if backwards:
        raise GateError(
            f"The plan unapplies {len(backwards)} migration(s) ({', '.join(backwards[:3])}"
            f"{', ...' if len(backwards) > 3 else ''}): predeploycheck checks deployments; "
            "roll back with the bundle's rollback plan."
        )
    return [migration for migration, _ in plan], loader
