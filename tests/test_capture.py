"""Capture details: Python operations, irreversible steps, deferred statements, transactions."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from migration_studio.bundle.store import load_bundle

from .conftest import assert_round_trip

APP = "roundtrip"

INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel("Item", [
            ("id", models.BigAutoField(primary_key=True)),
            ("name", models.CharField(max_length=50)),
        ]),
    ]
"""

PYTHON_AND_SQL = """
from django.db import migrations, models


def fill(apps, schema_editor):
    Item = apps.get_model("roundtrip", "Item")
    Item.objects.using(schema_editor.connection.alias).update(code="x")


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.AddField("item", "code", models.CharField(max_length=5, null=True)),
        migrations.RunPython(fill),
        migrations.RunSQL("CREATE INDEX item_name_idx ON roundtrip_item (name)",
                          reverse_sql="DROP INDEX item_name_idx"),
    ]
"""

IRREVERSIBLE_SQL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.AddField("item", "code", models.CharField(max_length=5, null=True)),
        migrations.RunSQL("CREATE INDEX item_code_idx ON roundtrip_item (code)"),
        migrations.AddField("item", "size", models.IntegerField(null=True)),
    ]
"""

DEFERRED = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.CreateModel("Box", [("id", models.BigAutoField(primary_key=True))]),
        migrations.CreateModel("Order", [
            ("id", models.BigAutoField(primary_key=True)),
            ("box", models.ForeignKey("roundtrip.box", on_delete=models.CASCADE)),
        ]),
    ]
"""

CONCURRENT = """
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        AddIndexConcurrently("item", models.Index(fields=["name"], name="item_name_conc")),
    ]
"""


def bundle_of(packages, bundle_root: Path, source: str):
    packages.create(APP, {"0001_initial": INITIAL, "0002_change": source})
    out = StringIO()
    call_command("bundlemigration", APP, "0002", stdout=out, no_color=True)
    path = bundle_root / APP / "0002_change"
    return load_bundle(path), path, out.getvalue()


def test_python_operations_are_marked_and_irreversible_without_reverse_code(
    packages, bundle_root
) -> None:
    bundle, path, out = bundle_of(packages, bundle_root, PYTHON_AND_SQL)

    add, python, sql = bundle.operations
    assert not python.expressible and python.forward_sql == []
    assert not python.reversible and python.reverse_sql is None
    assert "RunPython has no reverse_code" in python.reason
    assert add.reverse_sql and sql.reverse_sql == ["DROP INDEX item_name_idx;"]
    assert not bundle.reversible

    up_sql = (path / "up.sql").read_text()
    down_sql = (path / "down.sql").read_text()
    assert "-- !! NOT EXPRESSIBLE AS SQL: RunPython runs Python code" in up_sql
    assert "python manage.py migrate roundtrip 0002_change" in up_sql
    assert "-- !! IRREVERSIBLE: " in down_sql
    assert "NOT reversible" in out
    assert "operation 2 (RunPython): " in out
    assert "cannot be rolled back automatically" in (path / "README.md").read_text()


def test_rollback_stops_at_irreversible_sql(packages, bundle_root) -> None:
    bundle, _path, _ = bundle_of(packages, bundle_root, IRREVERSIBLE_SQL)

    add_code, run_sql, add_size = bundle.operations
    assert add_size.reverse_sql  # reverted before the rollback reaches the RunSQL
    assert run_sql.reverse_sql is None and "RunSQL has no reverse_sql" in run_sql.reason
    assert add_code.reverse_sql is None
    assert "the rollback stops at operation 2" in add_code.reason
    assert not bundle.reversible


def test_deferred_statements_keep_django_order_and_owner(packages, bundle_root, vendor) -> None:
    bundle, path, _ = bundle_of(packages, bundle_root, DEFERRED)

    box, order = bundle.operations
    up_sql = (path / "up.sql").read_text()
    # Django queues the index of a new foreign key (and on PostgreSQL its constraint) until the
    # end of the migration; the bundle keeps that order and says which operation queued them.
    assert "Deferred statements" in up_sql
    assert any("CREATE INDEX" in s for s in order.deferred_forward_sql)
    assert not box.deferred_forward_sql
    assert "-- queued by [2/2] Create model Order" in up_sql
    if vendor == "postgresql":
        assert any("FOREIGN KEY" in s for s in order.deferred_forward_sql)
        assert up_sql.index("Deferred statements") < up_sql.index("FOREIGN KEY")
    assert_round_trip(path, parent=(APP, "0001_initial"), target=(APP, "0002_change"))


def test_python_operations_run_on_the_scratch_database(packages, bundle_root) -> None:
    bundle, _path, _ = bundle_of(packages, bundle_root, PYTHON_AND_SQL)
    # The statement after RunPython was captured, so the Python step ran without error there.
    assert bundle.operations[2].forward_sql == [
        "CREATE INDEX item_name_idx ON roundtrip_item (name);"
    ]


def test_atomic_migrations_are_one_transaction(packages, bundle_root, vendor) -> None:
    bundle, path, _ = bundle_of(packages, bundle_root, DEFERRED)
    up_sql = (path / "up.sql").read_text().splitlines()
    assert bundle.transactional
    assert "BEGIN;" in up_sql and up_sql[-1] in ("COMMIT;", "PRAGMA foreign_keys = ON;")


def test_concurrent_index_is_never_wrapped_in_a_transaction(packages, bundle_root, vendor) -> None:
    if vendor != "postgresql":
        pytest.skip("CONCURRENTLY is PostgreSQL's")
    bundle, path, _ = bundle_of(packages, bundle_root, CONCURRENT)
    up_sql = (path / "up.sql").read_text()
    assert not bundle.transactional
    assert "BEGIN;" not in up_sql and "COMMIT;" not in up_sql
    assert "CREATE INDEX CONCURRENTLY" in up_sql
    assert "DROP INDEX CONCURRENTLY" in (path / "down.sql").read_text()
    assert_round_trip(path, parent=(APP, "0001_initial"), target=(APP, "0002_change"))


def test_bundlemigration_bundles_only_what_is_missing(packages, bundle_root) -> None:
    packages.create(APP, {"0001_initial": INITIAL, "0002_change": DEFERRED})
    call_command("bundlemigration", APP, "0001", verbosity=0)
    assert [p.name for p in (bundle_root / APP).iterdir()] == ["0001_initial"]
    out = StringIO()
    call_command("bundlemigration", APP, stdout=out, no_color=True)
    assert "0002_change/" in out.getvalue() and "0001_initial/" not in out.getvalue()
    assert sorted(p.name for p in (bundle_root / APP).iterdir()) == ["0001_initial", "0002_change"]


def test_new_migrations_of_several_apps_are_captured_in_dependency_order(shop) -> None:
    """A new migration that depends on another new one starts from a state that includes it."""
    from django.db import migrations, models
    from django.db.migrations import Migration

    from migration_studio.capture.plan import plan_new_migrations
    from migration_studio.capture.session import capture_migrations

    def new(app_label, name, operations, dependencies):
        migration = Migration(name, app_label)
        migration.operations, migration.dependencies = operations, dependencies
        return migration

    shop_step = new(
        "shop",
        "0005_loyalty",
        [
            migrations.CreateModel("Loyalty", [("id", models.BigAutoField(primary_key=True))]),
        ],
        [("shop", "0004_orderitem_constraints")],
    )
    card = new(
        APP,
        "0001_initial",
        [
            migrations.CreateModel(
                "Card",
                [
                    ("id", models.BigAutoField(primary_key=True)),
                    ("loyalty", models.ForeignKey("shop.loyalty", on_delete=models.CASCADE)),
                ],
            ),
        ],
        [("shop", "0005_loyalty")],
    )
    # Listed in the "wrong" order on purpose: the plan sorts by the graph.
    plan = plan_new_migrations({APP: [card], "shop": [shop_step]})
    assert [m.app_label for m in plan.migrations] == ["shop", APP]

    bundles = capture_migrations(
        "default",
        plan.loader,
        plan.migrations,
        base=plan.base,
        sources=plan.sources,
        use_cache=False,
    )

    card_sql = "\n".join(bundles[1].operations[0].all_forward_sql)
    assert 'CREATE TABLE "roundtrip_card"' in card_sql
    assert '"shop_loyalty"' in card_sql
    assert any('DROP TABLE "roundtrip_card"' in s for s in bundles[1].operations[0].reverse_sql)
