"""What a run of ``makesafemigration`` captures: new migrations and the state they start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.db.migrations import Migration
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import MigrationWriter

from .graph import Node, add_migrations, graph_order


class RecordingAutodetector(MigrationAutodetector):
    """Django's autodetector, remembering the state it compared against.

    That state is the parent state of the migrations it detects; capture reuses it instead of
    rebuilding it from the graph.
    """

    last_from_state: ProjectState | None = None

    def __init__(
        self, from_state: ProjectState, to_state: ProjectState, questioner: object = None
    ) -> None:
        super().__init__(from_state, to_state, questioner)
        RecordingAutodetector.last_from_state = from_state  # subclasses' instances too


@dataclass
class CapturePlan:
    """New migrations in graph order, the graph that holds them, and where capture starts."""

    loader: MigrationLoader
    migrations: list[Migration]
    base: set[Node]
    sources: dict[Node, bytes] = field(default_factory=dict)
    paths: dict[Node, Path] = field(default_factory=dict)


def plan_new_migrations(
    changes: dict[str, list[Migration]],
    replaced: dict[str, str] | None = None,
    sources: dict[Node, str] | None = None,
) -> CapturePlan:
    """Plan the capture of migrations detected by the autodetector (not written yet).

    Capture starts from every migration on disk applied (what a deployed database has), less
    migrations being replaced (``makemigrations --update``), plus earlier new migrations.
    ``sources`` gives the text of migrations Django's writer does not write (data-migration
    stubs); the others' is the writer's.
    """
    loader = MigrationLoader(None, ignore_no_migrations=True)
    replaced_nodes = {
        node
        for node in loader.graph.nodes
        if replaced and replaced.get(node[0]) == _module_path(loader, node)
    }
    new = [m for migrations in changes.values() for m in migrations]
    add_migrations(loader, new)
    base = set(loader.graph.nodes) - {(m.app_label, m.name) for m in new} - replaced_nodes
    order = {node: i for i, node in enumerate(graph_order(loader))}
    new.sort(key=lambda m: order[(m.app_label, m.name)])
    plan = CapturePlan(loader=loader, migrations=new, base=base)
    for migration in new:
        writer = MigrationWriter(migration)
        node = (migration.app_label, migration.name)
        text = (sources or {}).get(node)
        plan.sources[node] = (text if text is not None else writer.as_string()).encode("utf-8")
        plan.paths[node] = Path(writer.path)
    return plan


def _module_path(loader: MigrationLoader, node: Node) -> str | None:
    migration = loader.graph.nodes[node]
    try:
        return MigrationWriter(migration).path
    except ValueError:
        return None
