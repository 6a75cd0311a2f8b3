"""Validation checks: queries returning the rows that violate what a migration promises.

Derived from each operation when the bundle is written (``checks.sql``): no NULL in a new or altered
NOT NULL column, no duplicates under a new unique field, constraint or index, no orphans under a
new foreign key, no row violating a new CHECK. Users add their own to the file, each query preceded
by a ``-- check: <description>`` line.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlparse

from .bundle import Bundle, OperationSQL
from .risk.facts import OperationFacts
from .risk.sql import parse_all

CHECK_MARK = "-- check:"


@dataclass
class Check:
    description: str
    sql: str


def quote(name: str, vendor: str) -> str:
    mark = "`" if vendor == "mysql" else '"'
    return f"{mark}{name}{mark}"


def derive(bundle: Bundle) -> list[Check]:
    """The checks every operation of ``bundle`` implies, in operation order, without duplicates."""
    checks: dict[str, Check] = {}
    for op in bundle.operations:
        for check in _operation_checks(bundle.vendor, op):
            checks.setdefault(check.sql, check)
    return list(checks.values())


def _operation_checks(vendor: str, op: OperationSQL) -> list[Check]:
    q = lambda name: quote(name, vendor)  # noqa: E731
    facts = OperationFacts.from_dict(op.facts) if op.facts else OperationFacts()
    where = f"operation {op.index + 1}, {op.description}"
    found: list[Check] = []
    after, before = facts.field_after, facts.field_before
    table = facts.table_after
    is_new_field = op.operation == "AddField"
    if table and after and after.column and op.operation in ("AddField", "AlterField"):
        column = after.column
        if not after.null and (is_new_field or (before is not None and before.null)):
            found.append(
                Check(
                    f"{table}.{column} has no NULL (NOT NULL column; {where})",
                    f"SELECT * FROM {q(table)} WHERE {q(column)} IS NULL",
                )
            )
        if (
            after.unique
            and not after.primary_key
            and (is_new_field or not (before and before.unique))
        ):
            found.append(_duplicates(vendor, table, [column], f"unique field; {where}"))
        if (
            after.target_table
            and after.target_column
            and (is_new_field or not (before and before.target_table == after.target_table))
        ):
            found.append(
                _orphans(
                    vendor,
                    table,
                    column,
                    after.target_table,
                    after.target_column,
                    f"foreign key; {where}",
                )
            )
    for text in op.all_forward_sql:
        for statement in parse_all(text):
            target = facts.table_after or statement.table
            if statement.kind == "create_index" and statement.unique and statement.table:
                columns = _columns_after(statement.sql, statement.table)
                if columns:
                    found.append(
                        _duplicates(
                            vendor,
                            statement.table,
                            columns,
                            f"unique index {statement.index}; {where}",
                            _where_clause(statement.sql),
                        )
                    )
            for action in statement.actions:
                if action.kind != "add_constraint" or not statement.table:
                    continue
                if action.constraint == "check":
                    expression = _parenthesised_after(statement.sql, "CHECK")
                    if expression:
                        found.append(
                            _check(vendor, statement.table, action.name, expression, where)
                        )
                elif action.constraint in ("unique", "primary_key"):
                    columns = _identifiers(
                        _parenthesised_after(statement.sql, "UNIQUE")
                        or _parenthesised_after(statement.sql, "KEY")
                        or ""
                    )
                    if columns:
                        found.append(
                            _duplicates(
                                vendor,
                                statement.table,
                                columns,
                                f"{action.constraint.replace('_', ' ')} {action.name}; {where}",
                            )
                        )
                elif action.constraint == "foreign_key" and action.references:
                    columns = _identifiers(_parenthesised_after(statement.sql, "FOREIGN KEY") or "")
                    targets = _identifiers(
                        _parenthesised_after(statement.sql, f"REFERENCES {q(action.references)}")
                        or _parenthesised_after(statement.sql, f"REFERENCES {action.references}")
                        or ""
                    )
                    if len(columns) == 1 and len(targets) == 1:
                        found.append(
                            _orphans(
                                vendor,
                                statement.table,
                                columns[0],
                                action.references,
                                targets[0],
                                f"foreign key {action.name}; {where}",
                            )
                        )
            if facts.constraint and target and statement.kind == "create_table":
                # SQLite adds a constraint by rebuilding the table with it.
                expression = _parenthesised_after(statement.sql, f"{q(facts.constraint)} CHECK")
                if expression:
                    found.append(_check(vendor, target, facts.constraint, expression, where))
                columns = _identifiers(
                    _parenthesised_after(statement.sql, f"{q(facts.constraint)} UNIQUE") or ""
                )
                if columns:
                    found.append(
                        _duplicates(
                            vendor,
                            target,
                            columns,
                            f"unique constraint {facts.constraint}; {where}",
                        )
                    )
    return found


def _orphans(
    vendor: str, table: str, column: str, target: str, target_column: str, why: str
) -> Check:
    q = lambda name: quote(name, vendor)  # noqa: E731
    return Check(
        f"every {table}.{column} exists in {target}.{target_column} ({why})",
        f"SELECT c.* FROM {q(table)} c WHERE c.{q(column)} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {q(target)} r WHERE r.{q(target_column)} = c.{q(column)})",
    )


def _check(vendor: str, table: str, name: str | None, expression: str, where: str) -> Check:
    return Check(
        f"every row of {table} satisfies CHECK {name or ''} ({where})".replace("  ", " "),
        f"SELECT * FROM {quote(table, vendor)} WHERE NOT ({expression})",
    )


def _duplicates(
    vendor: str, table: str, columns: list[str], why: str, condition: str | None = None
) -> Check:
    cols = ", ".join(quote(c, vendor) for c in columns)
    not_null = " AND ".join(f"{quote(c, vendor)} IS NOT NULL" for c in columns)
    extra = f" AND ({condition})" if condition else ""
    return Check(
        f"no duplicate ({', '.join(columns)}) in {table} ({why})",
        f"SELECT {cols}, COUNT(*) AS duplicates FROM {quote(table, vendor)} "
        f"WHERE {not_null}{extra} GROUP BY {cols} HAVING COUNT(*) > 1",
    )


def _parenthesised_after(sql: str, marker: str) -> str | None:
    """The text inside the parentheses that follow ``marker`` (balanced), or None."""
    upper, wanted = sql.upper(), marker.upper()
    start = upper.find(wanted)
    while start >= 0:
        opening = sql.find("(", start + len(marker))
        if opening >= 0 and not sql[start + len(marker) : opening].strip():
            break
        start = upper.find(wanted, start + 1)
    else:
        return None
    depth = 0
    for index in range(opening, len(sql)):
        if sql[index] == "(":
            depth += 1
        elif sql[index] == ")":
            depth -= 1
            if depth == 0:
                return sql[opening + 1 : index]
    return None


def _identifiers(text: str) -> list[str]:
    """``"a", "b"`` -> ["a", "b"]; empty when any part is an expression."""
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    names = []
    for part in parts:
        name = part.split()[0].strip('"`') if part else ""
        if not name or not name.replace("_", "").isalnum():
            return []
        names.append(name)
    return names


def _columns_after(sql: str, table: str) -> list[str]:
    for marker in (f'ON "{table}"', f"ON `{table}`", f"ON {table}"):
        text = _parenthesised_after(sql, marker)
        if text is not None:
            return _identifiers(text)
    return []


def _where_clause(sql: str) -> str | None:
    upper = sql.upper()
    position = upper.rfind(" WHERE ")
    return sql[position + 7 :].rstrip().rstrip(";") if position >= 0 else None


CUSTOM_MARK = "-- Your own checks (kept when the bundle is regenerated):"


def render(bundle: Bundle, checks: list[Check], custom: str = "") -> str:
    """checks.sql: the derived checks, then the user's section (kept as it was)."""
    lines = [
        f"-- Validation checks for {bundle.label}.",
        "-- Each query returns the rows that violate what the migration promises; no row = pass.",
        "-- validatemigration runs them after up.sql. Add your own below, each preceded by a",
        f'-- "{CHECK_MARK} <description>" line.',
    ]
    if not checks:
        lines.append("-- (no check derived from this migration's operations)")
    for check in checks:
        lines += ["", f"{CHECK_MARK} {check.description}", f"{check.sql};"]
    lines += ["", CUSTOM_MARK, custom.strip("\n")]
    return "\n".join(lines).rstrip("\n") + "\n"


def custom_part(text: str) -> str:
    """The user's section of an existing checks.sql."""
    position = text.find(CUSTOM_MARK)
    return text[position + len(CUSTOM_MARK) :] if position >= 0 else ""


def parse(text: str) -> list[Check]:
    """The checks of a checks.sql file, derived or written by hand."""
    checks = []
    for statement in sqlparse.split(text):
        description = None
        body = []
        for line in statement.splitlines():
            stripped = line.strip()
            if stripped.startswith(CHECK_MARK):
                description = stripped[len(CHECK_MARK) :].strip()
            elif stripped.startswith("--") or not stripped:
                continue
            else:
                body.append(line)
        sql = "\n".join(body).strip().rstrip(";").strip()
        if sql:
            checks.append(Check(description or sql, sql))
    return checks
