"""The bundle's documents for people: ``README.md`` and ``rollback-plan.md``."""

from __future__ import annotations

from ..risk.analysis import Report
from ..risk.base import Finding
from ..risk.report import effects_text, size_text
from .model import Bundle, OperationFacts


def render_readme(bundle: Bundle, report: Report | None = None) -> str:
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


# -- risk ----------------------------------------------------------------------------------------


def readme_section(report: Report) -> list[str]:
    """Markdown lines for the bundle README's "Risk" section."""
    lines = [
        "## Risk",
        "",
        f"**Overall risk: {report.risk_label.upper()}** ({len(report.findings)} finding(s); "
        f"table sizes from {report.stats_source}; details in `report.json`).",
        "",
    ]
    if not report.findings:
        return [*lines, "No rule found anything to report.", ""]
    lines += [
        "| severity | rule | op | what happens | size | effects |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in report.findings:
        severity = f.severity.label + (" (acknowledged)" if f.acknowledged else "")
        message = f.message.replace("|", "\\|")
        rule = f"[{f.rule}]({f.docs_url})" if f.docs_url else f.rule
        lines.append(
            f"| {severity} | {rule} {f.title} | {_where(f)} | {message} | "
            f"{size_text(f)} | {effects_text(f)} |"
        )
    lines += ["", "### Findings", ""]
    for number, f in enumerate(report.findings, 1):
        lines += [*_finding_block(number, f), ""]
    if report.acknowledgements:
        lines += ["Acknowledged in the migration (`migration_studio_acknowledge`):", ""]
        lines += [f"- **{rule}**: {reason}" for rule, reason in report.acknowledgements.items()]
        lines.append("")
    return lines


def _where(finding: Finding) -> str:
    where = "-" if finding.operation is None else str(finding.operation + 1)
    return where + (" (rollback)" if finding.direction == "reverse" else "")


def _finding_block(number: int, f: Finding) -> list[str]:
    """One finding, readable on its own (offline too): what happens, how big, the safe way."""
    place = "The whole migration" if f.operation is None else f"Operation {f.operation + 1}"
    if f.direction == "reverse":
        place += ", on rollback (`down.sql`)"
    lines = [
        f"#### {number}. {f.severity.label}: {f.rule} {f.title}",
        "",
        f"{place}: {f.message}",
        "",
    ]
    if size_text(f):
        lines.append(f"- Size: {size_text(f)}.")
    if effects_text(f):
        lines.append(f"- Effects: {effects_text(f)}.")
    if f.safe_alternative:
        lines.append(f"- Safe alternative: {f.safe_alternative}")
    if f.acknowledged:
        lines.append(f"- Acknowledged: {f.acknowledged}")
    if f.docs_url:
        lines.append(f"- Rule {f.rule}: {f.docs_url}")
    return lines if lines[-1] else lines[:-1]


def rollback_plan(bundle: Bundle, report: Report) -> str:
    """``rollback-plan.md``: how to roll back, what cannot come back, what to check."""
    previous = previous_migration(bundle)
    reverse = [f for f in report.findings if f.direction == "reverse"]
    lost = [f for f in report.findings if f.data_loss or f.data_loss_on_rollback]
    lines = [
        f"# Rollback plan: {bundle.label}",
        "",
        "## How to roll back",
        "",
    ]
    if bundle.reversible:
        lines += [
            "Revert the code first if the new code depends on the new schema, then:",
            "",
        ]
    lines += rollback_lines(bundle)
    lines += ["", "## What a rollback cannot bring back", ""]
    if lost:
        for f in lost:
            lines.append(f"- {f.message}")
    else:
        lines.append(
            "- Nothing found: the rollback restores the previous schema without dropping data."
        )
    lines += ["", "## Risks of the rollback itself", ""]
    if reverse:
        lines += [f"- **{f.rule}** ({f.severity.label}): {f.message}" for f in reverse]
    else:
        lines.append("- None found in `down.sql`.")
    tables = sorted({t for op in bundle.operations for t in _tables(op.operation_facts)})
    lines += [
        "",
        "## Before rolling back",
        "",
        "- Take a backup (or at least export the columns and tables listed above).",
        "- Check that no long-running transaction holds locks on "
        + (", ".join(f"`{t}`" for t in tables) or "the affected tables")
        + " (PostgreSQL: `SELECT pid, state, query FROM pg_stat_activity WHERE state <> 'idle';`).",
        "- Deploy code that works with the previous schema first, if the new code needs the "
        "new one.",
        "",
        "## After rolling back",
        "",
        f"- `python manage.py showmigrations {bundle.app_label}`: "
        f"`{bundle.migration_name}` is unapplied.",
        "- The schema matches the previous migration (compare it with a database migrated to "
        f"`{previous}`, or with the parent state `up.sql` was written for).",
        "- Application health checks and error rates are back to normal.",
        "",
    ]
    return "\n".join(lines)


def _tables(facts: OperationFacts) -> list[str]:
    return [t for t in (facts.table_before, facts.table_after) if t]
