"""The format of a bundle's SQL files (``up.sql``, ``down.sql``), written and read here only.

:func:`render_up_sql` and :func:`render_down_sql` write the files; :func:`read` reads them back.
Each operation's section starts with a marker line ``-- [i/n] <description> (<class>)``; the
statements an operation queues for the end of the migration follow a line
``-- queued by [i/n] <description>``. Statements are split as the database's own client splits a
file (:mod:`migration_studio.sql.splitter`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import __version__
from ..sql.splitter import first_word, scan
from .model import Bundle, OperationSQL

_MARKER = re.compile(r"-- (queued by )?\[(\d+)/(\d+)\] ")


def section_marker(index: int, total: int, description: str, operation: str) -> str:
    """The line that starts operation ``index``'s section (``index`` counts from 0)."""
    return f"-- [{index + 1}/{total}] {description} ({operation})"


def queued_marker(index: int, total: int, description: str) -> str:
    """The line before the statements operation ``index`` queued for the end of the migration."""
    return f"-- queued by [{index + 1}/{total}] {description}"


@dataclass(frozen=True)
class Marker:
    """A section marker: what follows belongs to operation ``operation`` (counted from 0)."""

    operation: int
    #: The statements the operation queued for the end of the migration (``queued by``).
    deferred: bool = False


@dataclass(frozen=True)
class Statement:
    sql: str
    #: The operation whose section holds the statement; None before the first marker.
    operation: int | None = None
    deferred: bool = False

    @property
    def keyword(self) -> str:
        """The statement's first word, upper-case (``BEGIN``, ``COMMIT``, ``ALTER`` ...)."""
        return first_word(self.sql).upper()


def read(text: str, vendor: str) -> list[Marker | Statement]:
    """The markers and statements of a bundle SQL file, in file order."""
    entries: list[Marker | Statement] = []
    current: int | None = None
    deferred = False
    for is_statement, chunk in scan(text, vendor):
        if is_statement:
            entries.append(Statement(chunk, current, deferred))
            continue
        match = _MARKER.match(chunk)
        if match:
            current, deferred = int(match.group(2)) - 1, bool(match.group(1))
            entries.append(Marker(current, deferred))
    return entries


# -- writing ------------------------------------------------------------------------------------

RULE = "-- " + "-" * 76


def _header(bundle: Bundle, direction: str, runs: str) -> list[str]:
    client = {
        "postgresql": "psql -v ON_ERROR_STOP=1 -f {file}",
        "sqlite": "sqlite3 -bail db.sqlite3 < {file}",
        "mysql": "mysql --database=NAME < {file}",
    }.get(bundle.vendor, "{file}")
    file = "up.sql" if direction == "forwards" else "down.sql"
    lines = [
        f"-- {bundle.label}: {direction} SQL",
        f"-- {runs}",
        f"-- Captured by executing the migration on a scratch {bundle.vendor} "
        f"{bundle.server_version} database (Django {bundle.django_version}, "
        f"migration_studio {__version__}).",
        f"-- Run as: {client.format(file=file)}",
    ]
    if not bundle.transactional and bundle.atomic and bundle.vendor != "mysql":
        lines.append("-- Not wrapped in a transaction: it contains CONCURRENTLY statements.")
    elif not bundle.transactional:
        lines.append(
            "-- Not wrapped in a transaction (non-atomic migration or non-transactional DDL)."
        )
    return lines


def _open(bundle: Bundle) -> list[str]:
    lines = []
    if bundle.vendor == "sqlite":
        # Django's SQLite schema editor turns foreign key enforcement off for table rebuilds.
        lines.append("PRAGMA foreign_keys = OFF;")
    if bundle.transactional:
        lines.append("BEGIN;")
    return lines


def _close(bundle: Bundle) -> list[str]:
    lines = ["COMMIT;"] if bundle.transactional else []
    if bundle.vendor == "sqlite":
        lines.append("PRAGMA foreign_keys = ON;")
    return lines


def _title(bundle: Bundle, op: OperationSQL) -> str:
    return section_marker(op.index, len(bundle.operations), op.description, op.operation)


def _marked(text: str) -> list[str]:
    return [f"-- !! {line}" for line in text.split("; ")]


def _section(
    bundle: Bundle,
    op: OperationSQL,
    statements: list[str] | None,
    forwards: bool,
) -> list[str]:
    lines = ["", _title(bundle, op)]
    if not op.expressible:
        lines += _marked(f"NOT EXPRESSIBLE AS SQL: {op.reason}")
        if forwards:
            lines.append(
                f"-- !! Run: python manage.py migrate {bundle.app_label} {bundle.migration_name}"
            )
    if not forwards and statements is None:
        lines += _marked(f"IRREVERSIBLE: {op.reason}")
        return lines
    if not op.allowed:
        lines.append(
            f"-- (no SQL: the database routers do not allow this operation on '{bundle.database}')"
        )
    elif op.expressible and not statements:
        lines.append("-- (no SQL: this operation changes Django's state only)")
    lines += statements or []
    return lines


def _deferred(bundle: Bundle, ops: list[OperationSQL], attr: str) -> list[str]:
    lines: list[str] = []
    for op in ops:
        statements = getattr(op, attr)
        if statements:
            lines += [queued_marker(op.index, len(bundle.operations), op.description)]
            lines += statements
    if lines:
        lines = [
            "",
            RULE,
            "-- Deferred statements: Django runs these at the end of the migration.",
            *lines,
        ]
    return lines


def render_up_sql(bundle: Bundle) -> str:
    lines = _header(bundle, "forwards", "Applies the migration to a database at its parent state.")
    lines += _open(bundle)
    for op in bundle.operations:
        lines += _section(bundle, op, op.forward_sql, forwards=True)
    lines += _deferred(bundle, bundle.operations, "deferred_forward_sql")
    lines += ["", *_close(bundle)]
    return "\n".join(lines) + "\n"


def render_down_sql(bundle: Bundle) -> str:
    lines = _header(
        bundle,
        "backwards",
        "Reverts the migration: operations in reverse order, back to the parent state.",
    )
    if not bundle.reversible:
        lines += _marked(
            "THIS MIGRATION IS NOT FULLY REVERSIBLE; see the IRREVERSIBLE blocks below"
        )
    lines += _open(bundle)
    ops = list(reversed(bundle.operations))
    for op in ops:
        lines += _section(bundle, op, op.reverse_sql, forwards=False)
    lines += _deferred(bundle, ops, "deferred_reverse_sql")
    lines += ["", *_close(bundle)]
    return "\n".join(lines) + "\n"
