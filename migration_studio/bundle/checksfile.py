"""Validation checks: queries returning the rows that violate what a migration promises.

Derived from each operation when the bundle is written (``checks.sql``): no NULL in a new or altered
NOT NULL column, no duplicates under a new unique field, constraint or index, no orphans under a
new foreign key, no row violating a new CHECK. Users add their own to the file, each query preceded
by a ``-- check: <description>`` line.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sql.reader import parse_all
from ..sql.splitter import annotated
from ..sql.text import identifier_list, parenthesised_after, quote_identifier, where_clause
from .model import Bundle, OperationSQL

CHECK_MARK = "-- check:"


@dataclass
class Check:
    description: str
    sql: str


def derive(bundle: Bundle) -> list[Check]:
    """The checks every operation of ``bundle`` implies, in operation order, without duplicates.

    checks.sql runs after the whole migration: a check follows the tables and columns it reads
    through the later operations' renames, and is left out when one of them removes them.
    """
    derived: list[_Derived] = []
    for op in bundle.operations:
        derived = [d for d in derived if d.follow(op, bundle.vendor)]
        derived += _operation_checks(bundle.vendor, op)
    checks: dict[str, Check] = {}
    for item in derived:
        check = item.render(bundle.vendor)
        checks.setdefault(check.sql, check)
    return list(checks.values())


@dataclass
class _Derived:
    """A derived check before it is written, with the names it reads."""

    #: "null", "duplicates", "orphans" or "check".
    kind: str
    table: str
    columns: list[str]
    why: str
    target: str | None = None
    target_column: str | None = None
    #: A CHECK constraint's name.
    name: str | None = None
    #: A CHECK condition or a partial index's WHERE condition (SQL over the table's columns).
    expression: str | None = None

    def render(self, vendor: str) -> Check:
        q = lambda name: quote_identifier(name, vendor)  # noqa: E731
        if self.kind == "null":
            table, column = self.table, self.columns[0]
            return Check(
                f"{table}.{column} has no NULL ({self.why})",
                f"SELECT * FROM {q(table)} WHERE {q(column)} IS NULL",
            )
        if self.kind == "orphans":
            assert self.target and self.target_column
            table, column, target = self.table, self.columns[0], self.target
            return Check(
                f"every {table}.{column} exists in {target}.{self.target_column} ({self.why})",
                f"SELECT c.* FROM {q(table)} c WHERE c.{q(column)} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {q(target)} r WHERE r.{q(self.target_column)} = c.{q(column)})",
            )
        if self.kind == "check":
            return Check(
                f"every row of {self.table} satisfies CHECK {self.name or ''} ({self.why})".replace(
                    "  ", " "
                ),
                f"SELECT * FROM {q(self.table)} WHERE NOT ({self.expression})",
            )
        cols = ", ".join(q(c) for c in self.columns)
        not_null = " AND ".join(f"{q(c)} IS NOT NULL" for c in self.columns)
        extra = f" AND ({self.expression})" if self.expression else ""
        # Every row that shares its values with another (so violations count rows, not groups).
        return Check(
            f"no duplicate ({', '.join(self.columns)}) in {self.table} ({self.why})",
            f"SELECT * FROM {q(self.table)} WHERE {not_null}{extra} AND ({cols}) IN "
            f"(SELECT {cols} FROM {q(self.table)} WHERE {not_null}{extra} "
            f"GROUP BY {cols} HAVING COUNT(*) > 1)",
        )

    def reads(self, table: str, column: str, vendor: str) -> bool:
        if self.target == table and self.target_column == column:
            return True
        return self.table == table and (
            column in self.columns or quote_identifier(column, vendor) in (self.expression or "")
        )

    def follow(self, op: OperationSQL, vendor: str) -> bool:
        """Follow what a later operation does to the names the check reads; False when it
        removes one of them (the check could not run after the migration)."""
        facts = op.operation_facts
        old_table, new_table = facts.table_before, facts.table_after
        if old_table and old_table in (self.table, self.target):
            if new_table is None:
                return False  # the model is deleted
            if new_table != old_table:
                self.table = new_table if self.table == old_table else self.table
                self.target = new_table if self.target == old_table else self.target
                self.why += f"; follows operation {op.index + 1}, {op.description}"
        before, after = facts.field_before, facts.field_after
        table = new_table or old_table
        if not (table and before and before.column and self.reads(table, before.column, vendor)):
            return True
        old, new = before.column, after.column if after else None
        if new is None:
            return False  # the column is removed
        if new != old:
            if self.table == table:
                self.columns = [new if c == old else c for c in self.columns]
                if self.expression:
                    self.expression = self.expression.replace(
                        quote_identifier(old, vendor), quote_identifier(new, vendor)
                    )
            if self.target == table and self.target_column == old:
                self.target_column = new
            self.why += f"; follows operation {op.index + 1}, {op.description}"
        return True


def _operation_checks(vendor: str, op: OperationSQL) -> list[_Derived]:
    q = lambda name: quote_identifier(name, vendor)  # noqa: E731
    facts = op.operation_facts
    where = f"operation {op.index + 1}, {op.description}"
    found: list[_Derived] = []
    after, before = facts.field_after, facts.field_before
    table = facts.table_after
    is_new_field = op.operation == "AddField"
    if table and after and after.column and op.operation in ("AddField", "AlterField"):
        column = after.column
        if not after.null and (is_new_field or (before is not None and before.null)):
            found.append(_Derived("null", table, [column], f"NOT NULL column; {where}"))
        if (
            after.unique
            and not after.primary_key
            and (is_new_field or not (before and before.unique))
        ):
            found.append(_Derived("duplicates", table, [column], f"unique field; {where}"))
        if (
            after.target_table
            and after.target_column
            and (is_new_field or not (before and before.target_table == after.target_table))
        ):
            found.append(
                _Derived(
                    "orphans",
                    table,
                    [column],
                    f"foreign key; {where}",
                    target=after.target_table,
                    target_column=after.target_column,
                )
            )
    for text in op.all_forward_sql:
        for statement in parse_all(text):
            target = facts.table_after or statement.table
            if statement.kind == "create_index" and statement.unique and statement.table:
                columns = _columns_after(statement.sql, statement.table)
                if columns:
                    found.append(
                        _Derived(
                            "duplicates",
                            statement.table,
                            columns,
                            f"unique index {statement.index}; {where}",
                            expression=_where_clause(statement.sql),
                        )
                    )
            for action in statement.actions:
                if action.kind != "add_constraint" or not statement.table:
                    continue
                if action.constraint == "check":
                    expression = parenthesised_after(statement.sql, "CHECK")
                    if expression:
                        found.append(_check(statement.table, action.name, expression, where))
                elif action.constraint in ("unique", "primary_key"):
                    columns = identifier_list(
                        parenthesised_after(statement.sql, "UNIQUE")
                        or parenthesised_after(statement.sql, "KEY")
                        or ""
                    )
                    if columns:
                        found.append(
                            _Derived(
                                "duplicates",
                                statement.table,
                                columns,
                                f"{action.constraint.replace('_', ' ')} {action.name}; {where}",
                            )
                        )
                elif action.constraint == "foreign_key" and action.references:
                    columns = identifier_list(
                        parenthesised_after(statement.sql, "FOREIGN KEY") or ""
                    )
                    targets = identifier_list(
                        parenthesised_after(statement.sql, f"REFERENCES {q(action.references)}")
                        or parenthesised_after(statement.sql, f"REFERENCES {action.references}")
                        or ""
                    )
                    if len(columns) == 1 and len(targets) == 1:
                        found.append(
                            _Derived(
                                "orphans",
                                statement.table,
                                columns,
                                f"foreign key {action.name}; {where}",
                                target=action.references,
                                target_column=targets[0],
                            )
                        )
            if facts.constraint and target and statement.kind == "create_table":
                # SQLite adds a constraint by rebuilding the table with it.
                expression = parenthesised_after(statement.sql, f"{q(facts.constraint)} CHECK")
                if expression:
                    found.append(_check(target, facts.constraint, expression, where))
                columns = identifier_list(
                    parenthesised_after(statement.sql, f"{q(facts.constraint)} UNIQUE") or ""
                )
                if columns:
                    found.append(
                        _Derived(
                            "duplicates",
                            target,
                            columns,
                            f"unique constraint {facts.constraint}; {where}",
                        )
                    )
    return found


def _check(table: str, name: str | None, expression: str, where: str) -> _Derived:
    return _Derived("check", table, [], where, name=name, expression=expression)


def _columns_after(sql: str, table: str) -> list[str]:
    for marker in (f'ON "{table}"', f"ON `{table}`", f"ON {table}"):
        text = parenthesised_after(sql, marker)
        if text is not None:
            return identifier_list(text)
    return []


def _where_clause(sql: str) -> str | None:
    where = where_clause(sql)
    return where.rstrip().rstrip(";") if where is not None else None


CUSTOM_MARK = "-- Your own checks (kept when the bundle is regenerated):"


def render(bundle: Bundle, checks: list[Check], custom: str = "") -> str:
    """checks.sql: the derived checks, then the user's section (kept as it was)."""
    lines = [
        f"-- Validation checks for {bundle.label}.",
        "-- Each query returns the rows that violate what the migration promises; no row = pass.",
        "-- validatemigration runs them after up.sql, and those whose tables and columns exist",
        "-- before the migration also before it, on the parent state's data (precheck).",
        f'-- Add your own below, each preceded by a "{CHECK_MARK} <description>" line.',
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


def parse(text: str, vendor: str) -> list[Check]:
    """The checks of a checks.sql file, derived or written by hand."""
    checks = []
    for comments, statement in annotated(text, vendor):
        marks = [line for line in comments if line.startswith(CHECK_MARK)]
        sql = statement.removesuffix(";").strip()
        if sql:
            description = marks[-1][len(CHECK_MARK) :].strip() if marks else ""
            checks.append(Check(description or sql, sql))
    return checks
