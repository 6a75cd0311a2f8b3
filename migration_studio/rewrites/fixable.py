"""What ``makesafemigration --safe`` would rewrite, read without rewriting anything: the lines the
command prints without ``--safe``, and the findings each rewrite would take away
(``safe_rewrite`` in ``report.json``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from django.db.migrations import (
    AddConstraint,
    AddField,
    AddIndex,
    AlterField,
    DeleteModel,
    Migration,
    RemoveField,
    RemoveIndex,
    RenameField,
)
from django.db.migrations.state import ProjectState
from django.db.models import CheckConstraint

from . import renames as rename_rewrites
from .backfill import model_label
from .columns import index_only_change, kept_default
from .constraints import nullable_foreign_key, only_not_null, plain_unique
from .fill import fills_nulls
from .safe import VENDORS
from .twophase import dropped_column


class Rewrite(NamedTuple):
    """What ``--safe`` would write instead of one operation, and which effects it takes away."""

    app_label: str
    migration: str
    #: The operation's index in the migration.
    operation: int
    text: str
    #: The finding effects (``Finding`` attributes) the rewrite takes away.
    fixes: tuple[str, ...]


#: A rewrite that keeps the table writable, and one that keeps the code still running working.
LOCKS = ("blocks_reads", "blocks_writes", "scan")
OLD_CODE = ("breaks_old_code",)


def would_rewrite(
    changes: dict[str, list[Migration]], from_state: ProjectState | None, vendor: str
) -> list[Rewrite]:
    """What ``--safe`` would rewrite in ``changes`` on ``vendor`` (nothing is changed)."""
    if from_state is None:
        return []
    return [
        Rewrite(app_label, migration.name, index, text, fixes)
        for app_label, migrations in changes.items()
        for migration in migrations
        for index, op in enumerate(migration.operations)
        for text, fixes in _rewrites_of(op, app_label, from_state, vendor)
    ]


def _rewrites_of(
    op: Any, app_label: str, from_state: ProjectState, vendor: str
) -> list[tuple[str, tuple[str, ...]]]:
    renamed = rename_rewrites.renamed_names(op, app_label, from_state)
    if renamed:
        kind, old, _new = renamed
        owner = (
            f"{app_label}.{model_label(app_label, op.model_name)}.{op.new_name}"
            if isinstance(op, RenameField)
            else f"{app_label}.{model_label(app_label, op.new_name)}"
        )
        keyword = "db_column" if kind == "column" else "db_table"
        text = (
            f"{kind} of {owner}: keeps its name {old!r} ({keyword} added to the model's source), "
            "the rename runs no SQL"
        )
        return [(text, OLD_CODE)]
    if vendor not in VENDORS:
        return []
    if isinstance(op, DeleteModel):
        if (app_label, op.name_lower) not in from_state.models:
            return []
        text = (
            f"table of {app_label}.{model_label(app_label, op.name)}: leaves the state first, "
            "dropped by a later migration"
        )
        return [(text, OLD_CODE)]
    if (app_label, getattr(op, "model_name_lower", "")) not in from_state.models:
        return []
    what = f"{app_label}.{model_label(app_label, op.model_name)}"
    if isinstance(op, RemoveField) and dropped_column(op, app_label, from_state):
        text = f"column {what}.{op.name}: leaves the state first, dropped by a later migration"
        return [(text, OLD_CODE)]
    if isinstance(op, AddIndex):
        return [(f"index {op.index.name} on {what}: built CONCURRENTLY", LOCKS)]
    if isinstance(op, RemoveIndex):
        return [(f"index {op.name} on {what}: dropped CONCURRENTLY", LOCKS)]
    if isinstance(op, AddConstraint) and isinstance(op.constraint, CheckConstraint):
        text = f"check {op.constraint.name} on {what}: added NOT VALID, validated next"
        return [(text, LOCKS)]
    if isinstance(op, AddField) and nullable_foreign_key(op, app_label, from_state):
        text = (
            f"foreign key {what}.{op.name}: added NOT VALID, validated next, its index built "
            "CONCURRENTLY"
        )
        return [(text, LOCKS)]
    if isinstance(op, AlterField) and only_not_null(op, app_label, from_state):
        text = (
            f"NOT NULL of {what}.{op.name}: a CHECK added NOT VALID, validated next, then SET "
            "NOT NULL without a scan"
        )
        return [(text, LOCKS)]
    if isinstance(op, AlterField) and fills_nulls(op, app_label, from_state):
        text = (
            f"NOT NULL of {what}.{op.name}: its NULL rows filled in batches, a CHECK added NOT "
            "VALID, validated next, then SET NOT NULL without a scan"
        )
        return [(text, LOCKS)]
    if isinstance(op, AlterField) and index_only_change(op, app_label, from_state):
        kind = "unique" if op.field.unique else "index"
        return [(f"{kind} of {what}.{op.name}: built CONCURRENTLY", LOCKS)]
    if isinstance(op, AddField) and not (op.field.remote_field or op.field.many_to_many):
        found = []
        if op.field.unique and op.field.null:
            text = (
                f"unique of the new column {what}.{op.name}: its index built CONCURRENTLY after "
                "the column, then the constraint USING INDEX"
            )
            found.append((text, LOCKS))
        elif op.field.db_index and not op.field.unique:
            text = f"index of the new column {what}.{op.name}: built CONCURRENTLY after the column"
            found.append((text, LOCKS))
        if kept_default(op.field) is not None:
            text = (
                f"default of the new column {what}.{op.name}: kept in the database, so the "
                "INSERTs of the code still running keep working"
            )
            found.append((text, OLD_CODE))
        return found
    if isinstance(op, AddConstraint) and plain_unique(
        op.constraint, app_label, op.model_name_lower, from_state
    ):
        return [(f"unique {op.constraint.name} on {what}: its index built CONCURRENTLY", LOCKS)]
    return []


def mark_fixable(findings: Iterable[Any], rewrites: list[Rewrite]) -> None:
    """Each finding of the migration's operations that ``--safe`` would take away says how
    (``safe_rewrite``): a forward finding whose effects are among those of the rewrite."""
    by_operation: dict[int, list[Rewrite]] = {}
    for rewrite in rewrites:
        by_operation.setdefault(rewrite.operation, []).append(rewrite)
    for finding in findings:
        if finding.direction != "forward":
            continue
        fixing = [
            rewrite.text
            for rewrite in by_operation.get(finding.operation, [])
            if any(getattr(finding, effect) for effect in rewrite.fixes)
        ]
        if fixing:
            finding.safe_rewrite = "; ".join(fixing)
