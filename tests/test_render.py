"""The bundle's documents, read where they are used: in the user's repository, offline too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.db import migrations, models
from django.db.migrations.recorder import MigrationRecorder

from migration_studio.scratch.database import ScratchDatabase

from .cases import APP, base_operations
from .conftest import migrate, migration_source, run_sql_file

CHANGE = "0002_change"


def bundle_change(packages, bundle_root: Path, operations: list) -> Path:
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            CHANGE: migration_source(APP, CHANGE, operations, [(APP, "0001_initial")]),
        },
    )
    call_command("bundlemigration", APP, verbosity=0)
    return bundle_root / APP / CHANGE


NOT_NULL = [migrations.AddField("book", "rating", models.IntegerField(default=0))]


def section(readme: str, title: str) -> str:
    return readme.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_each_finding_stands_alone_without_links_by_default(packages, bundle_root) -> None:
    readme = (bundle_change(packages, bundle_root, NOT_NULL) / "README.md").read_text()
    # Relative links to this project's files would not work in the user's repository.
    assert "](" not in section(readme, "Risk")
    assert "rules.rst" not in readme
    findings = section(readme, "Risk").split("#### ")[1:]
    assert findings
    for block in findings:
        head, body = block.split("\n", 1)
        assert re.match(r"\d+\. (info|low|medium|high|critical): MS\d+ \S", head), head
        assert re.search(r"^(Operation \d+|The whole migration)[^:]*: \S", body, re.M), block
    assert any("- Safe alternative: " in block for block in findings)


def test_docs_url_setting(packages, bundle_root, settings) -> None:
    settings.MIGRATION_STUDIO = {
        **settings.MIGRATION_STUDIO,
        "DOCS_URL": "https://intranet.example.com/ms/",
    }
    path = bundle_change(packages, bundle_root, NOT_NULL)
    readme = (path / "README.md").read_text()
    assert "](https://intranet.example.com/ms/rules.html#ms" in readme
    findings = json.loads((path / "report.json").read_text())["findings"]
    assert findings
    for finding in findings:  # docs keeps its documented meaning; docs_url is the link
        assert finding["docs"] == f"docs/rules.rst#{finding['rule'].lower()}"
        assert finding["docs_url"] == (
            f"https://intranet.example.com/ms/rules.html#{finding['rule'].lower()}"
        )

    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "DOCS_URL": None}
    call_command("bundlemigration", APP, CHANGE, verbosity=0)
    readme = (bundle_root / APP / CHANGE / "README.md").read_text()
    assert "](" not in section(readme, "Risk")
    assert "- Safe alternative: " in readme


@pytest.mark.parametrize("value", ["docs/rules.rst", "ftp://example.com/", 42])
def test_docs_url_must_be_absolute(value, settings) -> None:
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "DOCS_URL": value}
    assert "migration_studio.E009" in [e.id for e in run_checks()]


def test_readme_rollback_is_the_rollback_plan_and_records_the_rollback(
    packages, bundle_root
) -> None:
    """down.sql plus the README's django_migrations statement leave the database as
    ``migrate app 0001`` does: the parent schema, and the migration recorded as unapplied."""
    path = bundle_change(
        packages,
        bundle_root,
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))],
    )
    readme = section((path / "README.md").read_text(), "Rollback")
    plan = (path / "rollback-plan.md").read_text()
    assert readme.strip() in plan
    statement = re.search(r"```sql\n(.+?)\n```", readme, re.S).group(1)
    assert statement == (
        f"DELETE FROM django_migrations WHERE app = '{APP}' AND name = '{CHANGE}';"
    )
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, APP, CHANGE)
        run_sql_file(database, path / "down.sql")
        rollback = path.parent / "record.sql"
        rollback.write_text(statement + "\n")
        run_sql_file(database, rollback)
        with database.activated() as connection:
            applied = MigrationRecorder(connection).applied_migrations()
            columns = [
                c.name
                for c in connection.introspection.get_table_description(
                    connection.cursor(), "roundtrip_book"
                )
            ]
        database.connection.close()
    assert (APP, "0001_initial") in applied
    assert (APP, CHANGE) not in applied
    assert "subtitle" not in columns


def backfill(apps, schema_editor):
    pass


def test_runpython_readme_does_not_claim_up_sql_runs_it(packages, bundle_root) -> None:
    path = bundle_change(
        packages,
        bundle_root,
        [
            migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True)),
            migrations.RunPython(backfill, migrations.RunPython.noop),
        ],
    )
    readme = (path / "README.md").read_text()
    deployment = section(readme, "Deployment")
    assert "holds exactly" not in readme
    assert "runs only through `manage.py migrate`" in deployment
    assert f"operation 2 (`RunPython`): RunPython runs Python code ({__name__}.backfill)" in (
        deployment
    )
    rollback = section(readme, "Rollback")
    assert "DELETE FROM django_migrations" not in rollback
    assert "`down.sql` does not run the reverse Python code" in rollback
    assert rollback.strip() in (path / "rollback-plan.md").read_text()
