"""Several databases and routers: a bundle holds the SQL ``migrate`` runs on its ``--database``."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import migrations, models

from migration_studio.bundle.store import load_bundle

from .cases import APP, base_operations
from .conftest import assert_round_trip, migration_source

CHANGE = "0002_change"
ALIAS = "sample_source"


class RoundtripOnItsOwnDatabase:
    """The round-trip app lives on the second database only; other apps go everywhere."""

    def allow_migrate(self, db, app_label, **hints):
        if app_label == APP:
            return db == ALIAS
        return None


@pytest.fixture
def routed(packages, bundle_root, settings) -> Path:
    settings.DATABASE_ROUTERS = [f"{__name__}.RoundtripOnItsOwnDatabase"]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True)),
        migrations.AddIndex("book", models.Index(fields=["isbn"], name="book_isbn_idx")),
    ]
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            CHANGE: migration_source(APP, CHANGE, operations, [(APP, "0001_initial")]),
        },
    )
    return bundle_root / APP / CHANGE


def test_bundle_on_the_apps_database_holds_its_sql(routed: Path) -> None:
    call_command("bundlemigration", APP, CHANGE, database=ALIAS, verbosity=0)
    bundle = assert_round_trip(routed, (APP, "0001_initial"), (APP, CHANGE), alias=ALIAS)
    assert bundle.database == ALIAS
    assert all(op.allowed and op.forward_sql for op in bundle.operations)
    assert "Database routers" not in (routed / "README.md").read_text()
    call_command("validatemigration", APP, CHANGE, database=ALIAS, verbosity=0)
    assert json.loads((routed / "validation.json").read_text())["status"] == "passed"


def test_bundle_on_a_database_the_router_refuses_says_so(routed: Path) -> None:
    out = StringIO()
    call_command("bundlemigration", APP, CHANGE, stdout=out, no_color=True)
    bundle = load_bundle(routed)
    assert bundle.database == "default"
    assert bundle.statement_counts() == (0, 0)
    assert [op.allowed for op in bundle.operations] == [False, False]
    up_sql = (routed / "up.sql").read_text()
    assert (
        up_sql.count("-- (no SQL: the database routers do not allow this operation on 'default')")
        == 2
    )
    assert "changes Django's state only" not in up_sql
    readme = (routed / "README.md").read_text()
    assert "the routers (`DATABASE_ROUTERS`) do not allow this migration on the database " in readme
    assert f"bundlemigration {APP} {CHANGE} --database ALIAS" in readme
    assert "do not allow 2 of its operation(s) on 'default'" in out.getvalue()
    assert json.loads((routed / "bundle.json").read_text())["database"] == "default"


def test_a_state_cached_under_a_router_is_not_reused_without_it(routed: Path, settings) -> None:
    """The router kept the app's tables out of the state built on 'default'; once the router is
    gone, the same migrations need those tables, so that cached state must not serve."""
    call_command("bundlemigration", APP, CHANGE, verbosity=0)
    assert load_bundle(routed).statement_counts() == (0, 0)
    settings.DATABASE_ROUTERS = []
    call_command("bundlemigration", APP, CHANGE, verbosity=0)
    bundle = load_bundle(routed)
    assert all(op.allowed and op.forward_sql for op in bundle.operations)
