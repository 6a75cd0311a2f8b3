"""Print the apps with migrations as JSON: files on disk and graph nodes in migrate's order.

Per app also the distribution that ships it, and per migration the facts the runner uses to
classify failures (which operations run Python or raw SQL, and whether a RunPython's reverse is a
no-op).
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

from django.apps import apps as registry
from django.core.management.base import BaseCommand
from django.db.migrations import RunPython, RunSQL
from django.db.migrations.loader import MigrationLoader

#: The tool under test and this helper app are not part of the corpus.
EXCLUDED = {"migration_studio", "corpus_tools"}


class Command(BaseCommand):
    help = "Lists every app label with migrations: its migration files and its graph nodes."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        loader = MigrationLoader(None, ignore_no_migrations=True)
        order: dict[tuple[str, str], None] = {}
        for leaf in sorted(loader.graph.leaf_nodes()):
            order.update(dict.fromkeys(loader.graph.forwards_plan(leaf)))
        apps: dict[str, dict[str, Any]] = {}
        distributions = metadata.packages_distributions()
        for app_label, name in order:
            if app_label not in EXCLUDED:
                entry = apps.setdefault(app_label, _app(app_label, distributions))
                entry["nodes"].append(name)
                entry["operations"][name] = _operations(loader.graph.nodes[app_label, name])
        for app_label, name in loader.disk_migrations:
            if app_label in apps:
                apps[app_label]["files"] += 1
                apps[app_label]["operations"].setdefault(
                    name, _operations(loader.disk_migrations[app_label, name])
                )
                if loader.disk_migrations[app_label, name].replaces:
                    apps[app_label]["squashes"] += 1
        self.stdout.write(json.dumps(apps))


def _app(app_label: str, distributions: dict[str, list[str]]) -> dict[str, Any]:
    module = registry.get_app_config(app_label).module.__name__
    top = module.split(".")[0]
    names = distributions.get(top, [])
    package = f"{names[0]} {metadata.version(names[0])}" if names else top
    return {"package": package, "files": 0, "nodes": [], "squashes": 0, "operations": {}}


def _operations(migration: Any) -> dict[str, bool]:
    operations = migration.operations
    return {
        "run_python": any(isinstance(op, RunPython) for op in operations),
        "noop_reverse": any(
            isinstance(op, RunPython) and op.reverse_code is RunPython.noop for op in operations
        ),
        "run_sql": any(isinstance(op, RunSQL) for op in operations),
    }
