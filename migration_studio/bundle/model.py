"""The bundle as data: a migration's exact SQL per operation, as ``bundle.json`` records it.

This module imports nothing of the package: everything else (capture, risk, validation, the file
writers) builds on it. Files on disk are :mod:`.store`'s job (paths, reading, atomic writes) and
:mod:`.writer`'s (assembling every file of a bundle).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = 1
SQL_FILES = ("up.sql", "down.sql")


@dataclass
class FieldFacts:
    name: str
    column: str | None
    db_type: str | None
    null: bool
    primary_key: bool = False
    unique: bool = False
    db_index: bool = False
    is_relation: bool = False
    many_to_many: bool = False
    #: The table a foreign key points to.
    target_table: str | None = None
    target_column: str | None = None
    has_default: bool = False
    #: The default is a callable (evaluated once when the column is added to existing rows).
    callable_default: str | None = None
    has_db_default: bool = False


@dataclass
class OperationFacts:
    #: The model's table before and after the operation (None when it does not exist).
    table_before: str | None = None
    table_after: str | None = None
    field_before: FieldFacts | None = None
    field_after: FieldFacts | None = None
    #: Tables whose foreign keys point at the model (before the operation).
    referenced_by: list[str] = field(default_factory=list)
    #: Tables the model's own foreign keys point to (before the operation).
    points_to: list[str] = field(default_factory=list)
    #: Index name -> table, for statements that name only the index (DROP INDEX).
    indexes: dict[str, str] = field(default_factory=dict)
    #: For AddConstraint: the constraint's name (its SQL is found in the statements).
    constraint: str | None = None
    #: RunPython whose reverse_code is RunPython.noop, or RunSQL whose reverse_sql is empty: the
    #: rollback runs nothing for it (the data it changed stays changed).
    reverse_noop: bool = False
    #: For AddConstraint: the model's columns (before the operation) that are nullable with
    #: neither a default nor a database default: an INSERT that does not set them writes NULL.
    null_when_unset: list[str] = field(default_factory=list)
    #: Columns of the table (before the operation) that a validated CHECK constraint already
    #: requires to be set (``CHECK (col IS NOT NULL)``): PostgreSQL 12+ then sets NOT NULL
    #: without reading the table. Read from the scratch database's catalog.
    not_null_checked: list[str] = field(default_factory=list)
    #: For RunSQL: per table its SQL sets a column NOT NULL on, the columns a validated CHECK
    #: constraint requires to be set just before it runs (as ``not_null_checked``).
    sql_not_null_checked: dict[str, list[str]] = field(default_factory=dict)
    #: For RunPython: the batched backfill the code declares (a migration_studio data-migration
    #: stub's ``BACKFILL``: model, field, batch_seconds), or None.
    backfill: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperationFacts:
        data = dict(data)
        for key in ("field_before", "field_after"):
            if data.get(key):
                data[key] = FieldFacts(**data[key])
        return cls(**data)


@dataclass
class OperationSQL:
    """The statements one operation runs, forwards and backwards, as captured by executing it."""

    index: int
    operation: str
    description: str
    forward_sql: list[str] = field(default_factory=list)
    #: Statements the operation queues that Django runs at the end of the migration.
    deferred_forward_sql: list[str] = field(default_factory=list)
    #: ``None`` when the reverse was not captured (see ``reason``).
    reverse_sql: list[str] | None = field(default_factory=list)
    deferred_reverse_sql: list[str] = field(default_factory=list)
    #: False for operations SQL cannot express (RunPython): their SQL files hold a marked comment.
    expressible: bool = True
    reversible: bool = True
    reason: str = ""
    #: What the operation changes, read from the model states (see capture/facts.py), as
    #: ``OperationFacts.to_dict()``; :attr:`operation_facts` reads it back.
    facts: dict[str, Any] = field(default_factory=dict)
    #: False when the project's database routers do not allow the operation on the database it
    #: was captured on (``allow_migrate``): ``migrate`` runs no SQL for it there.
    allowed: bool = True

    @property
    def operation_facts(self) -> OperationFacts:
        return OperationFacts.from_dict(self.facts) if self.facts else OperationFacts()

    @property
    def all_forward_sql(self) -> list[str]:
        return self.forward_sql + self.deferred_forward_sql

    @property
    def all_reverse_sql(self) -> list[str]:
        return (self.reverse_sql or []) + self.deferred_reverse_sql


@dataclass
class Bundle:
    app_label: str
    migration_name: str
    dependencies: list[list[str]]
    atomic: bool
    vendor: str
    server_version: str
    django_version: str
    created_at: str
    operations: list[OperationSQL]
    #: Whether the SQL files are wrapped in BEGIN/COMMIT (atomic migration, transactional DDL).
    transactional: bool = True
    #: For a squashed migration: the migrations it replaces, as [app, name].
    replaces: list[list[str]] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    #: The ``DATABASES`` alias the SQL was captured for (``--database``); routers decide per alias.
    database: str = "default"

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.migration_name}"

    @property
    def reversible(self) -> bool:
        return all(op.reversible and op.reverse_sql is not None for op in self.operations)

    @property
    def refused_operations(self) -> list[OperationSQL]:
        """Operations the routers do not allow on :attr:`database`: they run no SQL there."""
        return [op for op in self.operations if not op.allowed]

    @property
    def irreversible_reasons(self) -> list[str]:
        return [
            f"operation {op.index + 1} ({op.operation}): {op.reason}"
            for op in self.operations
            if not op.reversible or op.reverse_sql is None
        ]

    def statement_counts(self) -> tuple[int, int]:
        forward = sum(len(op.all_forward_sql) for op in self.operations)
        backward = sum(len(op.all_reverse_sql) for op in self.operations)
        return forward, backward

    def to_dict(self) -> dict[str, Any]:
        """The ``bundle.json`` document (operations name their ``class``, as the format says)."""
        data = asdict(self)
        data["reversible"] = self.reversible
        data["operations"] = [{"class": op.pop("operation"), **op} for op in data["operations"]]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bundle:
        data = dict(data)
        data.pop("reversible", None)
        data["operations"] = [
            OperationSQL(operation=op["class"], **{k: v for k, v in op.items() if k != "class"})
            for op in data["operations"]
        ]
        return cls(**data)


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()
