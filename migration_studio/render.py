"""Render a bundle's human-facing files: ``up.sql``, ``down.sql`` and ``README.md``."""

from __future__ import annotations

from typing import Any

from . import __version__
from .bundle import Bundle, OperationSQL
from .sqlfile import queued_marker, section_marker

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


def render_readme(bundle: Bundle, report: Any = None) -> str:
    forward, backward = bundle.statement_counts()
    transaction = (
        "one transaction" if bundle.transactional else "none (statements commit one by one)"
    )
    lines = [
        f"# {bundle.label}",
        "",
        "## Overview",
        "",
        f"- App: `{bundle.app_label}`, migration `{bundle.migration_name}`, "
        f"{len(bundle.operations)} operation(s).",
        f"- Depends on: {', '.join(f'`{a}.{n}`' for a, n in bundle.dependencies) or 'nothing'}.",
        f"- SQL captured on {bundle.vendor} {bundle.server_version} with Django "
        f"{bundle.django_version}, {bundle.created_at}.",
        f"- Forward: {forward} statement(s) in `up.sql`; backward: {backward} statement(s) in "
        "`down.sql`.",
        f"- Reversible: {'yes' if bundle.reversible else 'no'}.",
        f"- Transaction: {transaction}.",
        *_router_note(bundle),
        "",
        "## Changes",
        "",
    ]
    for op in bundle.operations:
        flags = []
        if not op.expressible:
            flags.append("not expressible as SQL")
        if not op.reversible or op.reverse_sql is None:
            flags.append("irreversible")
        suffix = f" — **{', '.join(flags)}**: {op.reason}" if flags else ""
        lines.append(
            f"{op.index + 1}. {op.description} (`{op.operation}`, "
            f"{len(op.all_forward_sql)} statement(s)){suffix}"
        )
    if report is not None:
        from .risk.report import readme_section

        lines += ["", *readme_section(report)[:-1]]
        lines[4:4] = [f"- Risk: **{report.risk_label}** (see Risk below)."]
    lines += [
        "",
        "## Testing",
        "",
        "On a copy of the database at the parent state, apply and revert, then compare schemas:",
        "",
        "```",
        *_run_lines(bundle, "up.sql"),
        *_run_lines(bundle, "down.sql"),
        "```",
        *(
            [
                "",
                "The Python code of the operations listed under Deployment does not run this way: "
                "test it with `manage.py migrate` on the copy.",
            ]
            if _python_operations(bundle)
            else []
        ),
        "",
        "## Deployment",
        "",
        *deployment_lines(bundle),
        "",
        "## Rollback",
        "",
        *rollback_lines(bundle),
    ]
    return "\n".join(lines) + "\n"


def _router_note(bundle: Bundle) -> list[str]:
    refused = bundle.refused_operations
    if not refused:
        return []
    which = (
        "this migration"
        if len(refused) == len(bundle.operations)
        else "operation(s) " + ", ".join(str(op.index + 1) for op in refused) + " of this migration"
    )
    return [
        f"- **Database routers:** the routers (`DATABASE_ROUTERS`) do not allow {which} on the "
        f"database `{bundle.database}` the SQL was captured for, so `migrate --database "
        f"{bundle.database}` runs no SQL for {'it' if which == 'this migration' else 'them'}, "
        "and the SQL files have none. If the app's tables live on another database, bundle it "
        f"there: `python manage.py bundlemigration {bundle.app_label} {bundle.migration_name} "
        "--database ALIAS`.",
    ]


def _python_operations(bundle: Bundle) -> list[str]:
    """One line per operation that runs Python code (RunPython), naming it and its code."""
    return [
        f"- operation {op.index + 1} (`{op.operation}`): {op.reason}"
        for op in bundle.operations
        if not op.expressible
    ]


def deployment_lines(bundle: Bundle) -> list[str]:
    """How to deploy: the README's Deployment section."""
    lines = [
        "```",
        f"python manage.py migrate {bundle.app_label} {bundle.migration_name}",
        "```",
        "",
    ]
    python = _python_operations(bundle)
    if not python:
        return [*lines, "`up.sql` holds exactly the statements this runs, in order."]
    return [
        *lines,
        "`up.sql` holds the SQL statements this runs, in order, but not the Python code of:",
        "",
        *python,
        "",
        "That code runs only through `manage.py migrate`: deploy with the command above, not by "
        "running `up.sql` (it has a marked comment block where the code runs).",
    ]


def rollback_lines(bundle: Bundle) -> list[str]:
    """How to roll back; the same text in the README and in rollback-plan.md."""
    previous = previous_migration(bundle)
    if not bundle.reversible:
        return [
            "**This migration cannot be rolled back automatically:**",
            "",
            *[f"- {reason}" for reason in bundle.irreversible_reasons],
            "",
            "Roll forward with a fixing migration, or restore from the backup taken before the "
            "deploy.",
        ]
    lines = [
        "```",
        f"python manage.py migrate {bundle.app_label} {previous}",
        "```",
        "",
    ]
    python = _python_operations(bundle)
    if python:
        return [
            *lines,
            "`down.sql` does not run the reverse Python code of:",
            "",
            *python,
            "",
            "so roll back with the command above, which runs it.",
        ]
    return [
        *lines,
        "or run `down.sql` (the same statements) with the database client, then record the "
        "rollback in Django's migration table, as the command above does:",
        "",
        "```sql",
        f"DELETE FROM django_migrations WHERE app = '{bundle.app_label}' "
        f"AND name = '{bundle.migration_name}';",
        "```",
    ]


def previous_migration(bundle: Bundle) -> str:
    same_app = [name for app, name in bundle.dependencies if app == bundle.app_label]
    return same_app[-1] if same_app else "zero"


def _run_lines(bundle: Bundle, file: str) -> list[str]:
    if bundle.vendor == "postgresql":
        return [f"psql -v ON_ERROR_STOP=1 -d COPY_OF_DB -f {file}"]
    if bundle.vendor == "sqlite":
        return [f"sqlite3 -bail copy_of_db.sqlite3 < {file}"]
    return [f"mysql --database=COPY_OF_DB < {file}"]
