"""The migration graph: which migrations a capture starts from, and the key of that state."""

from __future__ import annotations

import json
import sys
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.db import router
from django.db.migrations import Migration, swappable_dependency
from django.db.migrations.loader import MigrationLoader

from .. import __version__
from ..bundle.model import sha256
from ..exceptions import GraphError

Node = tuple[str, str]


class History:
    """The migration graph read from the files, in both forms Django may apply it in.

    Where a squashed migration exists, Django applies it instead of the migrations it replaces on a
    database that has none (or all) of them applied, and the replaced migrations on a database
    that has only some: both are deployed somewhere, so both get bundles. :attr:`squashed` is the
    graph ``migrate`` uses on a new database (and ``makemigrations`` plans on); the replaced
    migrations live in a second graph, read only when one of them is asked for.
    """

    def __init__(self) -> None:
        self.squashed = MigrationLoader(None, ignore_no_migrations=True)
        self._unsquashed: MigrationLoader | None = None

    @property
    def unsquashed(self) -> MigrationLoader:
        """The graph of a database with part of a squash applied: the replaced migrations."""
        if self._unsquashed is None:
            loader = MigrationLoader(None, ignore_no_migrations=True, replace_migrations=False)
            # As Django does when a squash is partly applied: the squashed migration leaves the
            # graph, and what depended on it depends on the last migration it replaces.
            # A migration that "replaces" files long deleted (a renamed migration) stays.
            for key, squash in self.squashed.replacements.items():
                on_disk = all(tuple(node) in loader.disk_migrations for node in squash.replaces)
                if key in loader.graph.nodes and on_disk:
                    loader.graph.remove_replacement_node(key, squash.replaces)
            self._unsquashed = loader
        return self._unsquashed

    @property
    def has_replacements(self) -> bool:
        return bool(self.squashed.replacements)

    def loader_for(self, node: Node) -> MigrationLoader | None:
        """The graph that holds ``node``: the squashed one, unless ``node`` was replaced."""
        if node in self.squashed.graph.nodes:
            return self.squashed
        if node in self.squashed.disk_migrations and node in self.unsquashed.graph.nodes:
            return self.unsquashed
        return None

    def replaced(self, app_label: str) -> list[Node]:
        """The migrations of ``app_label`` on disk that a squashed migration replaces."""
        loader = self.squashed
        replaced = {
            tuple(node)
            for squash in loader.replacements.values()
            for node in squash.replaces
            if node[0] == app_label
            and tuple(node) in loader.disk_migrations
            and tuple(node) not in loader.graph.nodes
        }
        if not replaced:
            return []
        return [node for node in graph_order(self.unsquashed) if node in replaced]


def add_migrations(loader: MigrationLoader, migrations: Iterable[Migration]) -> None:
    """Add migrations that are not on disk yet (just detected) to ``loader``'s graph."""
    migrations = list(migrations)
    for migration in migrations:
        key = (migration.app_label, migration.name)
        if key in loader.graph.nodes:
            raise GraphError(
                f"Migration {migration.app_label}.{migration.name} appeared on disk while this "
                "run was detecting changes (another run wrote it?); nothing was written. Run "
                "the command again."
            )
        loader.graph.add_node(key, migration)
        loader.disk_migrations[key] = migration
        # An app's first migration makes it a migrated app.
        loader.unmigrated_apps.discard(migration.app_label)
        loader.migrated_apps.add(migration.app_label)
    for migration in migrations:
        key = (migration.app_label, migration.name)
        for dependency in migration.dependencies:
            parent = loader.check_key(resolve_dependency(dependency), migration.app_label)
            if parent is not None:
                loader.graph.add_dependency(migration, key, parent, skip_validation=True)
    loader.graph.validate_consistency()


def resolve_dependency(dependency: tuple[str, str]) -> tuple[str, str]:
    """A dependency as the loader reads it from a written file.

    The autodetector's migrations depend on ``("__setting__", "AUTH_USER_MODEL")`` for a swappable
    model; written out, that becomes ``swappable_dependency(settings.AUTH_USER_MODEL)``, i.e. the
    first migration of the app the setting names.
    """
    if dependency[0] == "__setting__":
        return swappable_dependency(getattr(settings, dependency[1]))
    return tuple(dependency)


def graph_order(loader: MigrationLoader) -> list[Node]:
    """Every migration of the graph, each after its dependencies."""
    order: dict[Node, None] = {}
    for leaf in sorted(loader.graph.leaf_nodes()):
        order.update(dict.fromkeys(loader.graph.forwards_plan(leaf)))
    return list(order)


_orders: weakref.WeakKeyDictionary[Any, tuple[int, list[Node]]] = weakref.WeakKeyDictionary()


def migrate_order(loader: MigrationLoader) -> list[Node]:
    """:func:`graph_order`, computed once per graph (and again when migrations are added)."""
    known = _orders.get(loader.graph)
    if known is None or known[0] != len(loader.graph.nodes):
        known = (len(loader.graph.nodes), graph_order(loader))
        _orders[loader.graph] = known
    return known[1]


def ancestors(loader: MigrationLoader, node: Node) -> set[Node]:
    """Every migration that must be applied before ``node`` (not ``node`` itself)."""
    return set(loader.graph.forwards_plan(node)) - {node}


def preceding(loader: MigrationLoader, node: Node) -> set[Node]:
    """Every migration a full ``migrate`` applies before ``node`` (its dependencies and more)."""
    order = migrate_order(loader)
    return set(order[: order.index(node)])


def applied_before(loader: MigrationLoader, node: Node, among: Iterable[Node]) -> set[Node]:
    """What must be applied when ``node`` runs: its dependencies, and the migrations of ``among``
    that a full ``migrate`` applies before it.

    ``among`` is what a run needs in all (the dependencies of every migration it captures).
    Applying those in ``migrate``'s order, and not only each migration's own dependencies, is what
    makes histories with an undeclared dependency work, as they do under ``migrate`` (an app that
    took a model over from another, while a third app's migration still points at the old one).
    """
    order = migrate_order(loader)
    position = order.index(node)
    among = set(among)
    return ancestors(loader, node) | {n for n in order[:position] if n in among}


def manifest(
    loader: MigrationLoader, nodes: Iterable[Node], sources: dict[Node, bytes] | None = None
) -> dict[str, str]:
    """``{"app.migration": sha256 of its file}`` for ``nodes``: what a database state is made of."""
    sources = sources or {}
    result = {}
    for node in nodes:
        source = sources.get(node)
        if source is None:
            source = migration_source(loader.graph.nodes[node])
        result[f"{node[0]}.{node[1]}"] = sha256(source)
    return result


def context_key(vendor: str, server_version: str) -> str:
    """What else a state depends on: the tools that built it and the server it was built on."""
    payload = {
        "tool": __version__,
        "django": django.get_version(),
        "vendor": vendor,
        "server": server_version,
        # Routers decide which tables a state built for an alias has (allow_migrate).
        "routers": [f"{type(r).__module__}.{type(r).__qualname__}" for r in router.routers],
    }
    return sha256(json.dumps(payload, sort_keys=True))[:16]


def state_key(context: str, files: dict[str, str]) -> str:
    """A key that changes whenever the state could: any migration file, tool or server version."""
    return sha256(json.dumps([context, sorted(files.items())]))[:24]


def migration_source(migration: Migration) -> bytes:
    """The bytes of the file ``migration`` was loaded from."""
    module = sys.modules.get(type(migration).__module__)
    path = getattr(module, "__file__", None)
    if not path:
        raise LookupError(
            f"Cannot find the file of migration {migration.app_label}.{migration.name}."
        )
    return Path(path).read_bytes()
