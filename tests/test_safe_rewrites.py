"""``makesafemigration --safe``: the version of a migration that keeps its tables writable, with
Django's state unchanged; on PostgreSQL index builds and drops run CONCURRENTLY in migrations of
their own, and SQLite says there is nothing to rewrite."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections

from migration_studio.bundle.store import load_bundle
from migration_studio.scratch.database import ScratchDatabase

from .conftest import assert_round_trip, migrate

#: The history drops the order index the models have and adds one they do not: the autodetector
#: builds the first again and drops the second.
SWAP_INDEXES = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0004_orderitem_constraints")]
    operations = [
        migrations.RemoveIndex("order", "shop_order_status_created_idx"),
        migrations.AddIndex(
            "customer", models.Index(fields=["email", "name"], name="shop_customer_extra_idx")
        ),
    ]
"""
PARENT = "0005_swap_indexes"


def make(*args: str, **options) -> str:
    out = StringIO()
    call_command(
        "makesafemigration", *args, stdout=out, stderr=StringIO(), no_color=True, **options
    )
    return out.getvalue()


postgresql_only = pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="CONCURRENTLY is PostgreSQL's"
)


@postgresql_only
def test_index_builds_and_drops_run_concurrently_in_migrations_of_their_own(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", PARENT, SWAP_INDEXES)
    make("shop", safe=True, name="restore", interactive=False)
    names = sorted(p.stem for p in shop.glob("000[6-9]_*.py"))
    assert names == ["0006_restore_drop_indexes", "0007_restore", "0008_restore_indexes"]
    drop, main, build = (load_bundle(bundle_root / "shop" / name) for name in names)
    assert not drop.atomic and not build.atomic and main.atomic
    assert [op.operation for op in drop.operations] == ["RemoveIndexConcurrently"]
    assert drop.operations[0].forward_sql == [
        'DROP INDEX CONCURRENTLY IF EXISTS "shop_customer_extra_idx";'
    ]
    assert [op.operation for op in build.operations] == ["AddIndexConcurrently"]
    assert build.operations[0].forward_sql[0].startswith(
        'CREATE INDEX CONCURRENTLY "shop_order_status_created_idx"'
    )
    assert "Index" not in " ".join(op.operation for op in main.operations)
    up = (bundle_root / "shop" / names[2] / "up.sql").read_text()
    assert "BEGIN;" not in up  # never wrapped in a transaction
    # The index built concurrently blocks no writes: no MS131 about it in any bundle.
    for name in names:
        report = json.loads((bundle_root / "shop" / name / "report.json").read_text())
        blocking = [f["message"] for f in report["findings"] if f["rule"] == "MS131"]
        assert not any("shop_order_status_created_idx" in m for m in blocking), name
    # Each stage says what was rewritten and why, in its file and its README.
    assert "CONCURRENTLY (makesafemigration --safe)" in (shop / f"{names[2]}.py").read_text()
    readme = (bundle_root / "shop" / names[2] / "README.md").read_text()
    assert "makesafemigration --safe" in readme
    # Django's state is the plain migration's, and the SQL round-trips.
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    previous = ("shop", PARENT)
    for name in names:
        assert_round_trip(bundle_root / "shop" / name, parent=previous, target=("shop", name))
        previous = ("shop", name)
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", names[-1])
        migrate(database, "shop", PARENT)


@postgresql_only
def test_the_rewritten_bundles_validate(shop, packages, bundle_root) -> None:
    packages.add("shop", PARENT, SWAP_INDEXES)
    call_command("migrate", "migration_studio", verbosity=0)
    make("shop", safe=True, name="restore", interactive=False)
    out = StringIO()
    call_command("validatemigration", "shop", stdout=out, stderr=StringIO(), no_color=True)
    assert out.getvalue().count(": passed") >= 3


def test_sqlite_has_nothing_to_rewrite_and_says_so(shop, packages, bundle_root) -> None:
    if connections["default"].vendor != "sqlite":
        pytest.skip("the SQLite answer")
    packages.add("shop", PARENT, SWAP_INDEXES)
    out = make("shop", safe=True, name="restore", interactive=False)
    assert "--safe: nothing to rewrite on sqlite" in out
    assert sorted(p.stem for p in shop.glob("000[6-9]_*.py")) == ["0006_restore"]
