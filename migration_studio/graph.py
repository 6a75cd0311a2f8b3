"""The migration graph: which migrations a capture starts from, and the key of that state."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

import django
from django.db import router
from django.db.migrations import Migration
from django.db.migrations.loader import MigrationLoader

from . import __version__
from .bundle import sha256

Node = tuple[str, str]


def add_migrations(loader: MigrationLoader, migrations: Iterable[Migration]) -> None:
    """Add migrations that are not on disk yet (just detected) to ``loader``'s graph."""
    migrations = list(migrations)
    for migration in migrations:
        key = (migration.app_label, migration.name)
        loader.graph.add_node(key, migration)
        loader.disk_migrations[key] = migration
        # An app's first migration makes it a migrated app.
        loader.unmigrated_apps.discard(migration.app_label)
        loader.migrated_apps.add(migration.app_label)
    for migration in migrations:
        key = (migration.app_label, migration.name)
        for dependency in migration.dependencies:
            parent = loader.check_key(tuple(dependency), migration.app_label)
            if parent is not None:
                loader.graph.add_dependency(migration, key, parent, skip_validation=True)
    loader.graph.validate_consistency()


def graph_order(loader: MigrationLoader) -> list[Node]:
    """Every migration of the graph, each after its dependencies."""
    order: dict[Node, None] = {}
    for leaf in sorted(loader.graph.leaf_nodes()):
        order.update(dict.fromkeys(loader.graph.forwards_plan(leaf)))
    return list(order)


def parents(loader: MigrationLoader, node: Node) -> list[Node]:
    """The migrations ``node`` directly depends on."""
    return sorted(parent.key for parent in loader.graph.node_map[node].parents)


def ancestors(loader: MigrationLoader, node: Node) -> set[Node]:
    """Every migration that must be applied before ``node`` (not ``node`` itself)."""
    return set(loader.graph.forwards_plan(node)) - {node}


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
