"""Drift: does the live schema match what its applied migrations give?

The tables the applied migrations describe are read on the target (read-only, like every query of
the gate), and the same tables are built on a scratch database by applying those migrations with the
capture machinery (and its cache). Columns, constraints and indexes that differ are drift: an index
added by hand, a column changed outside migrations, a migration faked. The scratch database is
created on the server of ``--scratch-database``; never on the target's unless that alias names it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.migrations.loader import MigrationLoader

from ..capture.graph import Node
from ..capture.session import CaptureSession
from ..exceptions import MigrationStudioError
from ..scratch.database import ScratchDatabase
from ..validation.schema import Snapshot, compare, quick_snapshot
from .result import FAIL, PASS, SKIP, WARN, GateCheck
from .target import Target

#: How many differences the message lists (details has them all).
SHOWN = 10


def applied_nodes(loader: MigrationLoader) -> set[Node]:
    """The migrations of the graph applied on the loader's database (a squash counts once)."""
    return {node for node in loader.graph.nodes if node in loader.applied_migrations}


def described_tables(loader: MigrationLoader, applied: Iterable[Node]) -> set[str]:
    """The tables of the managed models (and many-to-many tables) at the applied state."""
    nodes = list(applied)
    if not nodes:
        return set()
    state = loader.project_state(nodes, at_end=True)
    return {
        model._meta.db_table
        for model in state.apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }


def live_schema(target: Target, tables: set[str]) -> Snapshot:
    """The target's snapshot of ``tables`` (:class:`~.target.QueryFailed` when it cannot be
    read in time)."""
    return _only(target.run(lambda cursor: quick_snapshot(target.connection, tables)), tables)


def compare_with_migrations(
    live: Snapshot,
    tables: set[str],
    loader: MigrationLoader,
    applied: set[Node],
    scratch_alias: str,
    *,
    blocks: bool,
    use_cache: bool = True,
) -> GateCheck:
    """Build the applied state on a scratch database of ``scratch_alias`` and compare."""
    try:
        with (
            ScratchDatabase(scratch_alias, use_cache=use_cache) as scratch,
            CaptureSession(scratch, loader, applied, in_place=True),
        ):
            assert scratch.connection is not None
            expected = _only(quick_snapshot(scratch.connection, tables), tables)
    except MigrationStudioError as error:
        return GateCheck(
            "drift", SKIP, f"Not compared: the applied migrations could not be built: {error}"
        )
    result = compare(expected, live)
    differences = [_worded(line) for line in result.differences]
    renamed = [_worded(line) for line in result.renamed]
    details = {"tables": len(tables), "differences": differences, "renamed": renamed}
    if differences:
        shown = "; ".join(differences[:SHOWN]) + (
            f"; and {len(differences) - SHOWN} more" if len(differences) > SHOWN else ""
        )
        return GateCheck(
            "drift",
            FAIL if blocks else WARN,
            f"The live schema differs from what its applied migrations give "
            f"({len(differences)} difference(s)): {shown}.",
            details=details,
        )
    if renamed:
        return GateCheck(
            "drift",
            WARN,
            f"The live schema matches its applied migrations but for {len(renamed)} name(s): "
            + "; ".join(renamed[:SHOWN])
            + ".",
            details=details,
        )
    return GateCheck(
        "drift",
        PASS,
        f"The {len(tables)} table(s) the applied migrations describe match them.",
        details=details,
    )


def unavailable(why: str) -> GateCheck:
    return GateCheck("drift", SKIP, f"Not compared: {why}.")


def _only(schema: Snapshot, tables: set[str]) -> Snapshot:
    return {name: entry for name, entry in schema.items() if name in tables}


def _worded(line: str) -> str:
    """A difference, worded for live (after) against migrations (before)."""
    return line.replace("(left behind)", "(only in the live database)").replace(
        "(missing)", "(missing from the live database)"
    )
