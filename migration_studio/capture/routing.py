"""Database routers: which operations of a migration ``migrate`` runs on a given database alias.

Django's operations ask the routers (``allow_migrate``) before they run any SQL, so a migration
whose app lives on another database runs no SQL on ``default``. The capture records what really
runs, so such operations come out without SQL; this module says which ones, so that the bundle can
say why rather than look like a migration that changes nothing.
"""

from __future__ import annotations

from django.db import router
from django.db.migrations import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.models import ModelOperation

from ..bundle.model import Bundle


def allowed(operation: Operation, app_label: str, alias: str) -> bool:
    """Whether the routers let ``operation`` of ``app_label`` run on ``alias``, asked as the
    operation itself asks (model operations name their model; RunSQL and RunPython pass hints)."""
    inner = getattr(operation, "database_operations", None)
    if inner is not None:  # SeparateDatabaseAndState: its database operations decide
        return not inner or any(allowed(op, app_label, alias) for op in inner)
    hints = dict(getattr(operation, "hints", None) or {})
    if isinstance(operation, ModelOperation):
        model_name = operation.name_lower
    else:
        model_name = getattr(operation, "model_name_lower", None)
    if model_name and "model_name" not in hints:
        hints["model_name"] = model_name
    return bool(router.allow_migrate(alias, app_label, **hints))


def mark_refused(bundle: Bundle, migration: Migration, alias: str) -> Bundle:
    """Record on ``bundle`` the alias it was captured for and the operations refused there."""
    bundle.database = alias
    for op, operation in zip(bundle.operations, migration.operations, strict=True):
        op.allowed = allowed(operation, migration.app_label, alias)
    return bundle
