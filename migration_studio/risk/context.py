"""What rules look at: each operation with its statements, facts, sizes and work estimates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from ..bundle.model import Bundle, OperationFacts, OperationSQL
from ..sql.locks import ACCESS_EXCLUSIVE
from ..sql.reader import Action, Statement, parse_all
from ..sql.text import calls
from . import estimate
from .holds import LockHolds, lock_holds
from .stats import Stats

#: PostgreSQL functions whose value differs per row: a column default using one rewrites the table.
VOLATILE_FUNCTIONS = (
    "random",
    "gen_random_uuid",
    "uuid_generate_v4",
    "uuid_generate_v1",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "uuidv4",
    "uuidv7",
)


def version_tuple(version: str) -> tuple[int, ...]:
    match = re.match(r"\s*(\d+(?:\.\d+)*)", version or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def _type(db_type: str | None) -> tuple[str, list[int]]:
    """``varchar(20)`` -> ("varchar", [20]); ``numeric(12, 2)`` -> ("numeric", [12, 2])."""
    text = (db_type or "").lower().replace("character varying", "varchar").strip()
    match = re.match(r"([a-z_ ]+?)\s*(?:\((.*)\))?\s*$", text)
    if not match:
        return text, []
    args = [int(a) for a in re.findall(r"\d+", match.group(2) or "")]
    return match.group(1).strip(), args


def rewrites_on_type_change(old: str | None, new: str | None) -> bool:
    """Whether PostgreSQL rewrites the table for ``ALTER COLUMN ... TYPE new`` from ``old``.

    Binary-coercible changes that only relax a constraint are metadata-only: widening a varchar,
    varchar to text, dropping a varchar length, widening a numeric's precision (same scale) or
    dropping it. Everything else (narrowing, int to bigint, int to varchar ...) rewrites.
    """
    if not old or not new:
        return True
    (old_name, old_args), (new_name, new_args) = _type(old), _type(new)
    if (old_name, old_args) == (new_name, new_args):
        return False
    if old_name == "varchar" and new_name == "varchar":
        return bool(new_args) and (not old_args or new_args[0] < old_args[0])
    if old_name == "varchar" and new_name == "text":
        return False
    if old_name == "numeric" and new_name == "numeric":
        if not new_args:
            return False
        if not old_args:
            return True
        same_scale = (old_args[1:] or [0]) == (new_args[1:] or [0])
        return not (same_scale and new_args[0] >= old_args[0])
    return True


#: The largest value of PostgreSQL's integer types, and the name its "out of range" error uses.
INTEGER_MAXIMUM = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}
_INTEGER_ALIASES = {
    "int2": "smallint",
    "smallserial": "smallint",
    "int": "integer",
    "int4": "integer",
    "serial": "integer",
    "int8": "bigint",
    "bigserial": "bigint",
}
_STRING_TYPES = ("varchar", "char", "character", "bpchar", "text")
_DOUBLE_TYPES = ("double precision", "float8")
_REAL_TYPES = ("real", "float4")


@dataclass(frozen=True)
class Narrowing:
    """What ``ALTER COLUMN ... TYPE new`` from ``old`` does to values that fit ``old`` only."""

    #: Values changed without an error ("cut to 300 characters"), or None.
    loses: str | None = None
    #: Values that make the statement fail, with PostgreSQL's error, or None.
    fails: str | None = None


def narrowing(old: str | None, new: str | None, *, using: bool = True) -> Narrowing | None:
    """How a PostgreSQL type change from ``old`` to ``new`` narrows the column (None if it does
    not, or if either type is unknown). ``using``: the statement converts with
    ``USING column::new`` (an explicit cast cuts strings; the implicit one refuses them)."""
    if not old or not new:
        return None
    (old_name, old_args), (new_name, new_args) = _type(old), _type(new)
    old_name = _INTEGER_ALIASES.get(old_name, old_name)
    new_name = _INTEGER_ALIASES.get(new_name, new_name)
    if (old_name, old_args) == (new_name, new_args):
        return None
    if new_name in _STRING_TYPES and new_name != "text" and new_args and old_name in _STRING_TYPES:
        length = new_args[0]
        if old_name == "text" or not old_args or old_args[0] > length:
            if using:
                return Narrowing(loses=f"longer than {length} characters are cut to {length}")
            return Narrowing(
                fails=f"longer than {length} characters make it fail (value too long for type "
                f"character varying({length}))"
            )
        return None
    if new_name in INTEGER_MAXIMUM and old_name in INTEGER_MAXIMUM:
        maximum = INTEGER_MAXIMUM[new_name]
        if INTEGER_MAXIMUM[old_name] > maximum:
            return Narrowing(
                fails=f"above {maximum:,} or below {-maximum - 1:,} make it fail ({new_name} out "
                "of range)"
            )
        return None
    if new_name == "numeric" and old_name == "numeric" and new_args:
        precision, scale = new_args[0], (new_args[1:] or [0])[0]
        if old_args:
            old_scale = (old_args[1:] or [0])[0]
            rounds = old_scale > scale
            overflows = old_args[0] - old_scale > precision - scale
        else:
            rounds = overflows = True
        if not (rounds or overflows):
            return None
        return Narrowing(
            loses=f"with more than {scale} decimal places are rounded to {scale}"
            if rounds
            else None,
            fails=f"of 10^{precision - scale} or more (in absolute value) make it fail (numeric "
            "field overflow)"
            if overflows
            else None,
        )
    if new_name in _REAL_TYPES and old_name in _DOUBLE_TYPES:
        return Narrowing(
            loses="are rounded to about 6 significant digits",
            fails="beyond about 3.4e38 in absolute value make it fail (value out of range)",
        )
    return None


@dataclass
class MigrationContext:
    bundle: Bundle
    facts: list[OperationFacts]
    stats: Stats
    #: Tables the forward SQL creates (empty when their statements run).
    created_tables: set[str] = field(default_factory=set)

    @property
    def vendor(self) -> str:
        return self.bundle.vendor

    @cached_property
    def server_version(self) -> tuple[int, ...]:
        return version_tuple(self.bundle.server_version)

    def rows(self, table: str | None) -> int | None:
        if table is None:
            return None
        if table in self.created_tables:
            return 0
        return self.stats.rows(table)

    def seconds(self, kind: str | None, table: str | None) -> float | None:
        """The estimated duration of ``kind`` of work on ``table`` (None: metadata only); None
        when the table's size is unknown, as report.json documents, even for metadata-only work,
        whose time is mostly the wait for the lock, which no size tells."""
        rows = self.rows(table)
        if rows is None and table is not None:
            return None
        return estimate.seconds(kind, rows or 0, self.vendor, indexes=self.stats.indexes(table))

    @cached_property
    def sets_lock_timeout(self) -> bool:
        """The migration sets lock_timeout itself (e.g. RunSQL("SET lock_timeout = '2s'"))."""
        return any(
            statement.setting == "lock_timeout"
            for op in self.bundle.operations
            for text in op.all_forward_sql
            for statement in parse_all(text)
        )

    @cached_property
    def holds(self) -> LockHolds:
        """Per table, the strongest lock the forward SQL takes and how long it is held."""
        return lock_holds(self)

    @cached_property
    def checked_not_null(self) -> dict[tuple[int, str], set[tuple[str, str]]]:
        """(operation, statement) -> the (table, column) pairs a validated CHECK added by an
        earlier statement of the migration requires to be set."""
        found: set[tuple[str, str]] = set()
        pending: dict[tuple[str | None, str | None], tuple[str, ...]] = {}
        before: dict[tuple[int, str], set[tuple[str, str]]] = {}
        for op in self.bundle.operations:
            for text in op.all_forward_sql:
                for statement in parse_all(text):
                    before.setdefault((op.index, statement.sql), set(found))
                    for action in statement.actions:
                        key = (statement.table, action.name)
                        if action.kind == "add_constraint" and action.required_columns:
                            if action.not_valid:
                                pending[key] = action.required_columns
                            else:
                                found.update((statement.table, c) for c in action.required_columns)
                        elif action.kind == "validate_constraint" and key in pending:
                            found.update((statement.table, c) for c in pending.pop(key))
        return before

    def operations(self, direction: str = "forward") -> list[OperationContext]:
        return [
            OperationContext(self, op, self._facts(op.index), direction)
            for op in (
                self.bundle.operations
                if direction == "forward"
                else reversed(self.bundle.operations)
            )
        ]

    def _facts(self, index: int) -> OperationFacts:
        return self.facts[index] if index < len(self.facts) else OperationFacts()


@dataclass
class OperationContext:
    migration: MigrationContext
    op: OperationSQL
    facts: OperationFacts
    direction: str = "forward"

    @property
    def index(self) -> int:
        return self.op.index

    @property
    def operation(self) -> str:
        return self.op.operation

    @property
    def vendor(self) -> str:
        return self.migration.vendor

    @cached_property
    def statements(self) -> list[Statement]:
        sql = self.op.all_forward_sql if self.direction == "forward" else self.op.all_reverse_sql
        return [statement for text in sql for statement in parse_all(text)]

    def rows(self, table: str | None) -> int | None:
        return self.migration.rows(table)

    @cached_property
    def rebuilt_tables(self) -> set[str]:
        """Tables rebuilt by copy (SQLite): their DROP TABLE is part of the rebuild, not a drop."""
        return {
            action.name
            for statement in self.statements
            if statement.kind == "rename_table" and (statement.table or "").startswith("new__")
            for action in statement.actions
            if action.name
        }

    def table_of(self, statement: Statement) -> str | None:
        if statement.kind == "drop_index":
            return self.facts.indexes.get(statement.index or "") or self.facts.table_before
        return statement.table

    def actions(
        self, kind: str, *, constraint: str | None = None, validated: bool | None = None
    ) -> Iterator[tuple[Statement, Action]]:
        """(statement, action) for each ``kind`` action on a table that existed before.

        ``constraint`` narrows add_constraint actions to one kind; ``validated=True`` keeps only
        constraints added without NOT VALID.
        """
        for statement in self.statements:
            if not self.is_existing(statement.table):
                continue
            for action in statement.actions:
                if action.kind != kind:
                    continue
                if constraint is not None and action.constraint != constraint:
                    continue
                if validated is not None and action.not_valid == validated:
                    continue
                yield statement, action

    def held_before(self, statement: Statement, table: str | None) -> tuple[str, int] | None:
        """(mode, operation that took it): the strongest lock on ``table`` that the transaction
        already holds when ``statement`` starts (forward SQL only)."""
        if self.direction != "forward":
            return None
        return self.migration.holds.before(self.index, statement.sql, table)

    def proven_not_null(self, statement: Statement, column: str | None) -> bool:
        """``SET NOT NULL`` on ``column`` needs no scan: PostgreSQL 12+ skips it when a validated
        CHECK constraint (already in the database, or added earlier in the migration) requires
        the column to be set."""
        if self.vendor != "postgresql" or self.migration.server_version < (12,):
            return False
        if self.direction == "forward" and (statement.table, column) in (
            self.migration.checked_not_null.get((self.index, statement.sql), set())
        ):
            return True
        if column in self.facts.sql_not_null_checked.get(statement.table or "", []):
            return True
        return column in self.facts.not_null_checked and statement.table == (
            self.facts.table_before
        )

    def is_existing(self, table: str | None) -> bool:
        """The table exists before this migration (so it may hold rows)."""
        return table is not None and table not in self.migration.created_tables

    def work(self, statement: Statement) -> tuple[str | None, str | None]:
        """The heavy work a statement does, and on which table: (kind, table) or (None, table)."""
        table = self.table_of(statement)
        if statement.kind == "create_index":
            return "index", table
        if statement.kind == "update":
            return "backfill", table
        if statement.kind == "insert" and self._is_rebuild_copy(statement):
            return "copy", self._rebuild_source(statement)
        if statement.kind != "alter_table":
            return None, table
        kinds = [self.action_work(statement, action) for action in statement.actions]
        order = ("rewrite", "copy", "index", "validate_fk", "scan")
        for kind in order:
            if kind in kinds:
                return kind, table
        return None, table

    def action_work(self, statement: Statement, action: object) -> str | None:
        kind = getattr(action, "kind", None)
        if kind == "alter_type":
            old = self.facts.field_before.db_type if self.facts.field_before else None
            new = getattr(action, "new_type", None)
            if self.vendor == "postgresql" and not rewrites_on_type_change(old, new):
                return None
            return "rewrite"
        if kind == "add_column":
            if getattr(action, "generated", False) and self.vendor == "postgresql":
                return "rewrite"  # every existing row gets its identity or generated value
            if getattr(action, "unique", False):
                return "index"
            default = getattr(action, "default", None)
            if default and self.vendor == "postgresql":
                volatile = calls(default, VOLATILE_FUNCTIONS)
                if volatile or self.migration.server_version < (11,):
                    return "rewrite"
            return None
        if kind == "set_not_null":
            return (
                None if self.proven_not_null(statement, getattr(action, "column", None)) else "scan"
            )
        if kind == "validate_constraint":
            return "scan"
        if kind == "add_constraint" and not getattr(action, "not_valid", False):
            constraint = getattr(action, "constraint", None)
            if constraint == "check":
                return "scan"
            if constraint == "foreign_key":
                return "validate_fk"
            if constraint in ("unique", "primary_key", "exclusion") and not getattr(
                action, "using", False
            ):
                return "index"
        return None

    def seconds(self, statement: Statement) -> float | None:
        kind, table = self.work(statement)
        if kind == "backfill" and statement.has_where:
            return self.changed_rows(statement).seconds
        return self.migration.seconds(kind, table)

    def _is_rebuild_copy(self, statement: Statement) -> bool:
        return (statement.table or "").startswith("new__")

    def _rebuild_source(self, statement: Statement) -> str | None:
        return (statement.table or "")[len("new__") :] or None

    def strong_locks(self) -> list[tuple[Statement, str, str]]:
        """(statement, table, mode) for every ACCESS EXCLUSIVE lock on an existing table."""
        found = []
        for statement in self.statements:
            for table, mode in statement.locks().items():
                if statement.kind == "drop_index":
                    table = self.table_of(statement) or table
                if mode == ACCESS_EXCLUSIVE and self.is_existing(table):
                    found.append((statement, table, mode))
        return found

    def changed_rows(self, statement: Statement) -> ChangedRows:
        """The rows an UPDATE changes, as far as the sizes tell."""
        table = self.table_of(statement)
        rows = self.rows(table)
        column = statement.null_column if statement.has_where else None
        fraction = None
        if rows and column is not None:
            fraction = self.migration.stats.null_fraction(table, column)
        return ChangedRows(
            table_rows=rows,
            where=statement.has_where,
            column=column,
            fraction=fraction,
            seconds=None
            if rows is None
            else estimate.backfill_seconds(
                rows,
                rows if fraction is None else round(rows * fraction),
                self.migration.stats.indexes(table),
                self.vendor,
            ),
        )


@dataclass(frozen=True)
class ChangedRows:
    """The rows an UPDATE changes: all of the table's without a WHERE clause; with ``WHERE col IS
    NULL``, the table's rows times the column's NULL fraction; otherwise (or when the fraction is
    unknown) at most the table's rows."""

    table_rows: int | None
    where: bool
    #: The column of ``WHERE col IS NULL``, and its NULL fraction when the sizes tell it.
    column: str | None
    fraction: float | None
    #: The estimated duration (an upper bound when ``upper_bound``); None: the size is unknown.
    seconds: float | None

    @property
    def upper_bound(self) -> bool:
        """``rows`` is the table's size, an upper bound of the rows changed."""
        return self.where and self.fraction is None

    @property
    def rows(self) -> int | None:
        if self.table_rows is None or self.fraction is None:
            return self.table_rows
        return round(self.table_rows * self.fraction)
