"""README.md and rollback-plan.md rendered from hand-built bundles and reports: no database.

The documents come from the package's templates (migration_studio/templates/migration_studio/
bundle/); these tests hold what a reviewer relies on, and two documents in full, whitespace
included.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from django.test import override_settings

from migration_studio.bundle import documents
from migration_studio.bundle.documents import render_readme, rollback_plan
from migration_studio.bundle.model import Bundle, OperationSQL
from migration_studio.risk.analysis import Report, analyse
from migration_studio.risk.base import Finding, Severity

from .builders import bundle, facts, field, stats
from .builders import op as rule_op

APP = "library"
NAME = "0003_change"
PREVIOUS = "0002_previous"


def op(
    index: int,
    operation: str = "AddField",
    forward: Sequence[str] = ("ALTER TABLE x ADD COLUMN y int;",),
    reverse: Sequence[str] | None = ("ALTER TABLE x DROP COLUMN y;",),
    *,
    description: str = "",
    table: str | None = "library_book",
    **details,
) -> OperationSQL:
    """Operation number ``index + 1``; ``reverse=None``: its reverse was not captured."""
    return OperationSQL(
        index=index,
        operation=operation,
        description=description or f"{operation} {index + 1}",
        forward_sql=list(forward),
        reverse_sql=None if reverse is None else list(reverse),
        facts={"table_before": table, "table_after": table} if table else {},
        **details,
    )


def make_bundle(*operations: OperationSQL, **details) -> Bundle:
    details.setdefault("dependencies", [["auth", "0012_user"], [APP, PREVIOUS]])
    return Bundle(
        app_label=APP,
        migration_name=NAME,
        atomic=True,
        vendor=details.pop("vendor", "postgresql"),
        server_version="16.4",
        django_version="5.2",
        created_at="2025-01-02T03:04:05+00:00",
        operations=list(operations) or [op(0)],
        **details,
    )


def finding(rule: str = "MS101", **details) -> Finding:
    details.setdefault("title", "ACCESS EXCLUSIVE lock on an existing table")
    details.setdefault("severity", Severity.LOW)
    details.setdefault("message", "Takes ACCESS EXCLUSIVE on library_book.")
    details.setdefault("operation", 0)
    return Finding(rule=rule, **details)


def make_report(*findings: Finding, **details) -> Report:
    return Report(
        label=f"{APP}.{NAME}",
        vendor="postgresql",
        server_version="16.4",
        stats_source=details.pop("stats_source", "none"),
        findings=list(findings),
        **details,
    )


def section(document: str, title: str) -> str:
    """The text of section ``## title`` (up to the next ``## `` heading)."""
    return document.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def headings(document: str) -> list[str]:
    return [line for line in document.splitlines() if line.startswith("## ")]


# -- two documents in full -------------------------------------------------------------------------

PIPE = finding(
    "MS131",
    title="Index built without CONCURRENTLY blocks writes",
    severity=Severity.MEDIUM,
    message="Builds index a | b on library_book holding SHARE.",
    operation=1,
    blocks_writes=True,
    rows=3_000_000,
    estimated_seconds=2.0,
    safe_alternative="Use AddIndexConcurrently.",
    acknowledged="built at night",
    docs_url="https://docs.example.com/rules.html#ms131",
)
DROP = finding(
    "MS156",
    title="Rollback drops what the migration added",
    severity=Severity.MEDIUM,
    message="Rolling back drops column library_book.y.",
    direction="reverse",
    data_loss_on_rollback=True,
)

README = """\
# library.0003_change

## Overview

- Risk: **medium** (see Risk below).
- App: `library`, migration `0003_change`, 2 operation(s).
- Depends on: `auth.0012_user`, `library.0002_previous`.
- SQL captured on postgresql 16.4 with Django 5.2, 2025-01-02T03:04:05+00:00.
- Forward: 2 statement(s) in `up.sql`; backward: 2 statement(s) in `down.sql`.
- Reversible: yes.
- Transaction: one transaction.

## Changes

1. Add field y to book (`AddField`, 1 statement(s))
2. Create index on book (`AddIndex`, 1 statement(s))

## Risk

**Overall risk: MEDIUM** (2 finding(s); table sizes from file prod.json; details in `report.json`).

Deploying (`up.sql`): **none**; rolling back (`down.sql`): **medium**.

| severity | rule | op | what happens | size | effects |
| --- | --- | --- | --- | --- | --- |
| medium (acknowledged) | [MS131](https://docs.example.com/rules.html#ms131) Index built without CONCURRENTLY blocks writes | 2 | Builds index a \\| b on library_book holding SHARE. | 3,000,000 rows, ~2.0 s | blocks writes |
| medium | MS156 Rollback drops what the migration added | 1 (rollback) | Rolling back drops column library_book.y. |  | data loss on rollback |

### Findings

#### 1. medium: MS131 Index built without CONCURRENTLY blocks writes

Operation 2: Builds index a | b on library_book holding SHARE.

- Size: 3,000,000 rows, ~2.0 s.
- Effects: blocks writes.
- Safe alternative: Use AddIndexConcurrently.
- Acknowledged: built at night
- Rule MS131: https://docs.example.com/rules.html#ms131

#### 2. medium: MS156 Rollback drops what the migration added

Operation 1, on rollback (`down.sql`): Rolling back drops column library_book.y.

- Effects: data loss on rollback.

Acknowledged in the migration (`migration_studio_acknowledge`):

- **MS131**: built at night

## Testing

On a copy of the database at the parent state, apply and revert, then compare schemas:

```
psql -v ON_ERROR_STOP=1 -d COPY_OF_DB -f up.sql
psql -v ON_ERROR_STOP=1 -d COPY_OF_DB -f down.sql
```

## Deployment

```
python manage.py migrate library 0003_change
```

`up.sql` holds exactly the statements this runs, in order.

## Rollback

```
python manage.py migrate library 0002_previous
```

or run `down.sql` (the same statements) with the database client, then record the rollback in \
Django's migration table, as the command above does:

```sql
DELETE FROM django_migrations WHERE app = 'library' AND name = '0003_change';
```
"""  # noqa: E501 (the table rows)

ROLLBACK_PLAN = """\
# Rollback plan: library.0003_change

## How to roll back

Revert the code first if the new code depends on the new schema, then:

```
python manage.py migrate library 0002_previous
```

or run `down.sql` (the same statements) with the database client, then record the rollback in \
Django's migration table, as the command above does:

```sql
DELETE FROM django_migrations WHERE app = 'library' AND name = '0003_change';
```

## What a rollback cannot bring back

- Rolling back drops column library_book.y.

## Risks of the rollback itself

- **MS156** (medium): Rolling back drops column library_book.y.

## Before rolling back

- Take a backup (or at least export the columns and tables listed above).
- Check that no long-running transaction holds locks on `library_book` (PostgreSQL: \
`SELECT pid, state, query FROM pg_stat_activity WHERE state <> 'idle';`).
- Deploy code that works with the previous schema first, if the new code needs the new one.

## After rolling back

- `python manage.py showmigrations library`: `0003_change` is unapplied.
- The schema matches the previous migration (compare it with a database migrated to \
`0002_previous`, or with the parent state `up.sql` was written for).
- Application health checks and error rates are back to normal.
"""


def full_bundle() -> Bundle:
    return make_bundle(
        op(0, description="Add field y to book"),
        op(1, "AddIndex", description="Create index on book"),
    )


def full_report() -> Report:
    return make_report(
        PIPE,
        DROP,
        stats_source="file prod.json",
        acknowledgements={"MS131": "built at night"},
    )


def test_readme_in_full() -> None:
    assert render_readme(full_bundle(), full_report()) == README


def test_rollback_plan_in_full() -> None:
    assert rollback_plan(full_bundle(), full_report()) == ROLLBACK_PLAN


# -- the README ------------------------------------------------------------------------------------


def test_readme_without_report_has_no_risk() -> None:
    readme = render_readme(make_bundle())
    assert headings(readme) == [
        "## Overview",
        "## Changes",
        "## Testing",
        "## Deployment",
        "## Rollback",
    ]
    assert "Risk" not in readme
    assert section(readme, "Overview").startswith("\n- App: `library`, migration `0003_change`")
    assert "\n\n\n" not in readme
    assert readme.endswith("```\n") and not readme.endswith("\n\n")


def test_readme_with_report_without_findings() -> None:
    readme = render_readme(make_bundle(), make_report(acknowledgements={"MS101": "small table"}))
    assert headings(readme)[2] == "## Risk"
    assert "- Risk: **none** (see Risk below).\n- App:" in readme
    assert section(readme, "Risk") == (
        "\n**Overall risk: NONE** (0 finding(s); table sizes from none; details in "
        "`report.json`).\n\nDeploying (`up.sql`): **none**; rolling back (`down.sql`): "
        "**none**.\n\nNo rule found anything to report.\n"
    )


def test_irreversible_migration() -> None:
    bundle = make_bundle(
        op(0),
        op(
            1,
            "RunSQL",
            forward=["UPDATE x SET y = 1;"],
            reverse=None,
            reversible=False,
            reason="RunSQL without reverse_sql",
        ),
    )
    readme = render_readme(bundle, make_report())
    plan = rollback_plan(bundle, make_report())
    assert "- Reversible: no." in readme
    changes = section(readme, "Changes")
    assert "2. RunSQL 2 (`RunSQL`, 1 statement(s)) — **irreversible**: RunSQL without" in changes
    rollback = (
        "**This migration cannot be rolled back automatically:**\n\n"
        "- operation 2 (RunSQL): RunSQL without reverse_sql\n\n"
        "Roll forward with a fixing migration, or restore from the backup taken before the "
        "deploy.\n"
    )
    assert section(readme, "Rollback") == "\n" + rollback
    assert section(plan, "How to roll back") == "\n" + rollback
    assert "Revert the code first" not in plan
    assert "DELETE FROM django_migrations" not in readme + plan


def test_python_operations_are_named_where_the_sql_files_fall_short() -> None:
    bundle = make_bundle(
        op(0),
        op(
            1,
            "RunPython",
            forward=[],
            reverse=[],
            expressible=False,
            reason="runs library.migrations.0003.fill (reverse: unfill)",
        ),
    )
    readme = render_readme(bundle, make_report())
    plan = rollback_plan(bundle, make_report())
    listed = "- operation 2 (`RunPython`): runs library.migrations.0003.fill (reverse: unfill)\n"
    assert "— **not expressible as SQL**: runs library" in section(readme, "Changes")
    assert section(readme, "Testing").endswith(
        "```\n\nThe Python code of the operations listed under Deployment does not run this way: "
        "test it with `manage.py migrate` on the copy.\n"
    )
    deployment = section(readme, "Deployment")
    assert "but not the Python code of:\n\n" + listed + "\nThat code runs only" in deployment
    assert "holds exactly the statements" not in deployment
    rollback = section(readme, "Rollback")
    assert rollback == (
        "\n```\npython manage.py migrate library 0002_previous\n```\n\n"
        "`down.sql` does not run the reverse Python code of:\n\n"
        + listed
        + "\nso roll back with the command above, which runs it.\n"
    )
    assert rollback in plan
    assert "DELETE FROM django_migrations" not in readme + plan


def test_python_operation_without_reverse_code() -> None:
    bundle = make_bundle(
        op(0, "RunPython", forward=[], expressible=False, reversible=False, reason="runs fill"),
    )
    readme = render_readme(bundle)
    assert "— **not expressible as SQL, irreversible**: runs fill\n" in readme
    assert "- operation 1 (RunPython): runs fill\n" in section(readme, "Rollback")


@pytest.mark.parametrize(
    ("allowed", "which", "pronoun"),
    [
        ([False, False], "this migration", "it"),
        ([False, True, False], "operation(s) 1, 3 of this migration", "them"),
    ],
)
def test_router_refused_operations(allowed: list[bool], which: str, pronoun: str) -> None:
    bundle = make_bundle(
        *[op(i, forward=[], reverse=[], allowed=a) for i, a in enumerate(allowed)],
        database="archive",
    )
    overview = section(render_readme(bundle), "Overview")
    assert overview.endswith(
        f"- Transaction: one transaction.\n- **Database routers:** the routers "
        f"(`DATABASE_ROUTERS`) do not allow {which} on the database `archive` the SQL was "
        f"captured for, so `migrate --database archive` runs no SQL for {pronoun}, and the SQL "
        "files have none. If the app's tables live on another database, bundle it there: "
        "`python manage.py bundlemigration library 0003_change --database ALIAS`.\n"
    )


def test_allowed_operations_have_no_router_note() -> None:
    assert "Database routers" not in render_readme(make_bundle())


@pytest.mark.parametrize(
    ("vendor", "command"),
    [
        ("postgresql", "psql -v ON_ERROR_STOP=1 -d COPY_OF_DB -f {}"),
        ("sqlite", "sqlite3 -bail copy_of_db.sqlite3 < {}"),
        ("mysql", "mysql --database=COPY_OF_DB < {}"),
    ],
)
def test_testing_commands_per_vendor(vendor: str, command: str) -> None:
    testing = section(render_readme(make_bundle(vendor=vendor)), "Testing")
    commands = command.format("up.sql") + "\n" + command.format("down.sql")
    assert f"\n```\n{commands}\n```\n" in testing


def test_first_migration_and_non_transactional() -> None:
    bundle = make_bundle(dependencies=[], transactional=False)
    readme = render_readme(bundle)
    assert "- Depends on: nothing.\n" in readme
    assert "- Transaction: none (statements commit one by one).\n" in readme
    assert "python manage.py migrate library zero\n" in section(readme, "Rollback")


def test_findings_without_details_and_about_the_whole_migration() -> None:
    readme = render_readme(
        make_bundle(), make_report(finding("MS104", operation=None, message="x | y", title="T"))
    )
    risk = section(readme, "Risk")
    assert "| low | MS104 T | - | x \\| y |  |  |\n" in risk
    assert risk.endswith("#### 1. low: MS104 T\n\nThe whole migration: x | y\n")


# -- the rollback plan -----------------------------------------------------------------------------


def test_rollback_plan_without_findings() -> None:
    bundle = make_bundle(op(0, table=None), op(1, table="library_author"))
    plan = rollback_plan(bundle, make_report())
    assert section(plan, "What a rollback cannot bring back") == (
        "\n- Nothing found: the rollback restores the previous schema without dropping data.\n"
    )
    assert section(plan, "Risks of the rollback itself") == "\n- None found in `down.sql`.\n"
    assert "holds locks on `library_author` (PostgreSQL" in plan
    assert plan.endswith("are back to normal.\n")


def test_rollback_plan_lists_data_loss_either_way_and_rollback_risks() -> None:
    lost = finding("MS152", message="Drops column library_book.old.", data_loss=True)
    plan = rollback_plan(make_bundle(), make_report(lost, DROP, finding()))
    assert section(plan, "What a rollback cannot bring back") == (
        "\n- Drops column library_book.old.\n- Rolling back drops column library_book.y.\n"
    )
    assert section(plan, "Risks of the rollback itself") == (
        "\n- **MS156** (medium): Rolling back drops column library_book.y.\n"
    )


def test_tables_of_the_rollback_plan() -> None:
    bundle = make_bundle(op(0, table="b_table"), op(1, table="a_table"), op(2, table=None))
    plan = rollback_plan(bundle, make_report())
    assert "holds locks on `a_table`, `b_table` (PostgreSQL" in plan
    no_tables = rollback_plan(make_bundle(op(0, table=None)), make_report())
    assert "holds locks on the affected tables (PostgreSQL" in no_tables


# -- how they are rendered -------------------------------------------------------------------------


@override_settings(TEMPLATES=[])
def test_rendering_needs_no_templates_setting() -> None:
    documents.engine.cache_clear()
    try:
        assert render_readme(full_bundle(), full_report()) == README
        assert rollback_plan(full_bundle(), full_report()) == ROLLBACK_PLAN
    finally:
        documents.engine.cache_clear()


@override_settings(USE_THOUSAND_SEPARATOR=True, LANGUAGE_CODE="de")
def test_nothing_is_escaped_or_localized() -> None:
    bundle = make_bundle(
        op(0, forward=["SELECT 1;"] * 1234, description="Add <b>field</b> & 'co' \"quoted\"")
    )
    report = make_report(finding(message="a < b & c > 'd'"))
    readme = render_readme(bundle, report)
    assert "1. Add <b>field</b> & 'co' \"quoted\" (`AddField`, 1234 statement(s))" in readme
    assert "- Forward: 1234 statement(s)" in readme
    assert "| a < b & c > 'd' |" in readme
    assert "Operation 1: a < b & c > 'd'\n" in readme
    assert "&lt;" not in readme + rollback_plan(bundle, report)


def test_risk_lists_the_locks_and_how_long_reads_and_writes_wait() -> None:
    """The README's lock table comes from the analysis of the statements (tables locked until
    COMMIT, the waits summed through the later work; unknown when a size is unknown)."""
    migration = bundle(
        rule_op(
            "AddField",
            ['ALTER TABLE "shop_order" ADD COLUMN "note" text NULL;'],
            deferred=['CREATE INDEX "shop_order_note_idx" ON "shop_order" ("note");'],
            facts=facts("shop_order", field_after=field("note", "text", null=True)),
        ),
        rule_op("AddIndex", ['CREATE INDEX "shop_tag_n_idx" ON "shop_tag" ("n");']),
    )
    report = analyse(migration, stats(shop_order=3_000_000))
    risk = section(render_readme(migration, report), "Risk")
    assert (
        "| table | strongest lock | from op | reads wait | writes wait |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| shop_order | ACCESS EXCLUSIVE | 1 | unknown (at least 2.0 s) "
        "| unknown (at least 2.0 s) |\n"
        "| shop_tag | SHARE | 2 | no | unknown (at least 2.0 s) |\n"
    ) in risk
    assert "held until COMMIT" in risk
    [order, tag] = report.to_dict()["locks"]
    # The size of shop_tag is unknown: so is its build, which shop_order's lock is held through.
    assert order["reads_wait"]["while"] == [
        "the index build on shop_tag",
        "the index build on shop_order",
    ]
    assert order["reads_wait"]["seconds"] is None
    assert order["reads_wait"]["at_least_seconds"] == pytest.approx(2.004)
    assert tag["writes_wait"]["seconds"] is None
    # Known sizes: the waits are known.
    report = analyse(migration, stats(shop_order=3_000_000, shop_tag=1_000))
    assert "| shop_order | ACCESS EXCLUSIVE | 1 | ~2.0 s | ~2.0 s |\n" in section(
        render_readme(migration, report), "Risk"
    )
