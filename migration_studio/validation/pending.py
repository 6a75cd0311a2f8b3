"""Migrations the sample source has not applied yet, which the validation runs on its rows.

The source of ``--sample-from`` is typically production, where the bundle's migration is not
applied, and often not the migrations before it either (the other migrations of a release). Their
data steps change the rows the bundle's checks will meet on the day it is deployed (a migration
that removes duplicates before the next adds a unique constraint): the scratch database is built
at the source's state, the rows are copied, and these migrations run on them first.
"""

from __future__ import annotations

from django.db import DatabaseError, connections
from django.db.migrations.loader import MigrationLoader

from ..capture.graph import Node, migrate_order
from ..exceptions import ValidationEnvironmentError
from .runner import first_line
from .sample import read_only


def applied_on(alias: str, loader: MigrationLoader) -> set[Node] | None:
    """The migrations recorded as applied on ``alias`` (read-only), a squashed migration once all
    it replaces are, as Django's loader counts it; None when the database has no
    ``django_migrations`` table (Django's migrations did not build it)."""
    connection = connections[alias]
    try:
        with read_only(alias) as cursor:
            if "django_migrations" not in connection.introspection.table_names(cursor):
                return None
            cursor.execute("SELECT app, name FROM django_migrations")
            applied = {(app, name) for app, name in cursor.fetchall()}
    except DatabaseError as error:
        raise ValidationEnvironmentError(
            f"Reading the migrations applied on '{alias}' failed: {first_line(error)}"
        ) from None
    for key, squash in loader.replacements.items():
        if all(tuple(node) in applied for node in squash.replaces):
            applied.add(key)
    return applied


def pending(loader: MigrationLoader, base: set[Node], applied: set[Node] | None) -> list[Node]:
    """The migrations of ``base`` (a state: closed under dependencies) that ``applied`` lacks, and
    those of ``base`` that depend on them, in ``migrate``'s order; none when ``applied`` is None."""
    if applied is None:
        return []
    missing = base - applied
    return [
        node
        for node in migrate_order(loader)
        if node in base and missing & set(loader.graph.forwards_plan(node))
    ]
