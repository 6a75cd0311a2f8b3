"""Builders for the unit layer: bundles, operations, facts and table sizes, from literal SQL.

A bundle built here is what ``bundlemigration`` would have captured: the statements as the schema
editor ran them (each ending with ``;``), and the facts read from the model states.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from migration_studio.bundle.model import Bundle, FieldFacts, OperationFacts, OperationSQL
from migration_studio.risk.stats import Stats, TableStats

DESCRIPTIONS = {
    "AddField": "Add field to model",
    "AlterField": "Alter field on model",
    "RemoveField": "Remove field from model",
    "RenameField": "Rename field on model",
    "CreateModel": "Create model",
    "DeleteModel": "Delete model",
    "AlterModelTable": "Rename table for model",
    "AddIndex": "Create index on model",
    "RemoveIndex": "Remove index from model",
    "AddConstraint": "Create constraint on model",
    "RemoveConstraint": "Remove constraint from model",
    "RunSQL": "Raw SQL operation",
    "RunPython": "Raw Python operation",
}


def field(name: str, db_type: str | None, **details: Any) -> FieldFacts:
    """A field's facts; NOT NULL unless ``null=True`` is given; the column is the field's name
    unless ``column`` is given (``column=None`` for a many-to-many field)."""
    details.setdefault("null", False)
    details.setdefault("column", name)
    return FieldFacts(name=name, db_type=db_type, **details)


def facts(table: str | None = None, **details: Any) -> OperationFacts:
    """An operation's facts on ``table`` (before and after, unless given apart)."""
    details.setdefault("table_before", table)
    details.setdefault("table_after", table)
    return OperationFacts(**details)


def op(
    operation: str,
    forward: Iterable[str] = (),
    reverse: Iterable[str] | None = (),
    *,
    facts: OperationFacts | None = None,
    deferred: Iterable[str] = (),
    deferred_reverse: Iterable[str] = (),
    description: str | None = None,
    reversible: bool = True,
    expressible: bool = True,
    reason: str = "",
    allowed: bool = True,
) -> OperationSQL:
    """One captured operation; :func:`bundle` numbers it. ``reverse=None``: not captured."""
    return OperationSQL(
        index=0,
        operation=operation,
        description=description or DESCRIPTIONS.get(operation, operation),
        forward_sql=list(forward),
        deferred_forward_sql=list(deferred),
        reverse_sql=None if reverse is None else list(reverse),
        deferred_reverse_sql=list(deferred_reverse),
        expressible=expressible,
        reversible=reversible,
        reason=reason,
        facts=facts.to_dict() if facts is not None else {},
        allowed=allowed,
    )


def bundle(
    *operations: OperationSQL,
    vendor: str = "postgresql",
    server_version: str | None = None,
    atomic: bool = True,
    transactional: bool | None = None,
    app_label: str = "shop",
    migration_name: str = "0002_change",
    dependencies: Sequence[Sequence[str]] = (("shop", "0001_initial"),),
) -> Bundle:
    """A bundle of ``operations`` (numbered in order). It runs in one transaction when atomic,
    unless ``transactional`` says otherwise (CONCURRENTLY statements in an atomic migration)."""
    numbered = []
    for index, operation in enumerate(operations):
        operation.index = index
        numbered.append(operation)
    return Bundle(
        app_label=app_label,
        migration_name=migration_name,
        dependencies=[list(d) for d in dependencies],
        atomic=atomic,
        vendor=vendor,
        server_version=server_version
        or {"postgresql": "15.20", "sqlite": "3.40.1"}.get(vendor, "10.11.6"),
        django_version="5.2.19",
        created_at="2026-12-01T10:00:00+00:00",
        operations=numbered,
        transactional=atomic if transactional is None else transactional,
    )


def stats(**rows: int | None) -> Stats:
    """Table sizes: ``stats(shop_order=5_000_000)``."""
    return Stats({table: TableStats(count) for table, count in rows.items()}, source="unit test")
