"""The checks of ``checks.sql`` that the live data can answer before the plan is applied:
duplicates before a unique constraint, NULLs before NOT NULL, orphans before a foreign key, rows
violating a new CHECK. Read-only and bounded like every query of the gate."""

from __future__ import annotations

from pathlib import Path

from ..bundle.checksfile import parse as parse_checks
from ..bundle.model import Bundle
from ..validation.checking import answerable, violations
from .result import FAIL, PASS, SKIP, WARN, GateCheck
from .target import QueryFailed, Target


def live_identifiers(target: Target, tables: set[str]) -> set[str]:
    """The names of ``tables`` that exist on the target, and of their columns
    (:class:`~.target.QueryFailed` when the catalog cannot be read in time)."""
    connection = target.connection

    def names(cursor: object) -> set[str]:
        existing = set(connection.introspection.table_names(cursor)) & tables
        found = set(existing)
        for table in existing:
            found.update(
                c.name for c in connection.introspection.get_table_description(cursor, table)
            )
        return found

    return target.run(names)


def preflight(
    target: Target, bundle: Bundle, path: Path, known: set[str], fixed_by_data_steps: bool
) -> list[GateCheck]:
    """One check per answerable query of the bundle's checks.sql; ``fixed_by_data_steps``: the
    plan runs data steps before or in this migration, which may repair what is found."""
    file = path / "checks.sql"
    checks = parse_checks(file.read_text(encoding="utf-8"), bundle.vendor) if file.exists() else []
    found: list[GateCheck] = []
    for check in checks:
        if not answerable(check, known):
            continue  # it reads what the plan creates: it can only run after
        try:
            count, sample = target.run(lambda cursor, check=check: violations(cursor, check))
        except QueryFailed as error:
            found.append(
                GateCheck(
                    "preflight",
                    WARN,
                    f"{check.description}: could not be answered on the live data: {error}.",
                    details={"sql": check.sql},
                )
            )
            continue
        if not count:
            found.append(
                GateCheck(
                    "preflight",
                    PASS,
                    f"{check.description}: 0 violating rows.",
                    details={"sql": check.sql, "violations": 0},
                )
            )
            continue
        found.append(
            GateCheck(
                "preflight",
                WARN if fixed_by_data_steps else FAIL,
                f"{check.description}: {count:,} violating row(s) on the live data"
                + (
                    " (the plan's data steps run first and may fix them)"
                    if fixed_by_data_steps
                    else ": applying the migration would fail"
                )
                + ".",
                details={"sql": check.sql, "violations": count, "sample": sample},
            )
        )
    if not found:
        found.append(
            GateCheck(
                "preflight",
                SKIP,
                "No check of checks.sql can run before the plan: they read what it creates.",
            )
        )
    return found


def drops(target: Target, bundle: Bundle, known: set[str]) -> list[GateCheck]:
    """What the bundle's RemoveField and DeleteModel operations would drop on the live data: the
    values of the column (NULL ones left out) or the rows of the table, counted."""
    quote = target.connection.ops.quote_name
    found = []
    for op in bundle.operations:
        facts = op.operation_facts
        table = facts.table_before
        if op.operation == "RemoveField" and facts.field_before and facts.field_before.column:
            column = facts.field_before.column
            what = f"{table}.{column}"
            sql = f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(column)} IS NOT NULL"
            needed = {table, column}
            unit = "value(s)"
        elif op.operation == "DeleteModel" and table:
            what, sql, needed, unit = (
                table,
                f"SELECT COUNT(*) FROM {quote(table)}",
                {table},
                "row(s)",
            )
        else:
            continue
        if not needed <= known:
            continue
        try:
            [(count,)] = target.query(sql)
        except QueryFailed as error:
            found.append(
                GateCheck(
                    "preflight", WARN, f"{what}: what it holds could not be counted: {error}."
                )
            )
            continue
        found.append(
            GateCheck(
                "preflight",
                WARN if count else PASS,
                f"{what} is dropped by operation {op.index + 1}: "
                + (
                    f"{count:,} {unit} on the live data are lost (a rollback does not bring them "
                    "back): keep a copy first."
                    if count
                    else "it holds nothing on the live data."
                ),
                details={"sql": sql, "rows": count},
            )
        )
    return found
