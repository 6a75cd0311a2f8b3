"""``makesafemigration --safe``: a renamed field or model keeps its column or table, on every
database. The rename runs no SQL, the model's source says ``db_column`` / ``db_table`` so
Django's state matches it, and a rename that cannot keep its names stays Django's, saying why."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections, migrations, models

from migration_studio.bundle.store import load_bundle
from migration_studio.scratch.database import ScratchDatabase

from .conftest import REPO, after_shop_0004, assert_round_trip, make, migrate

MODELS = REPO / "example_project" / "shop" / "models.py"

#: The history names Customer.newsletter_opt_in "subscribed": the models renamed it.
RENAMED_FIELD = after_shop_0004(
    migrations.RenameField("customer", "newsletter_opt_in", "subscribed"),
)

#: The history names Customer "Client" (table shop_client), orders pointing to it: the models
#: renamed it (the history has its new phone field, so that Django sees the same fields).
RENAMED_MODEL = after_shop_0004(
    migrations.RenameModel("Customer", "Client"),
    migrations.AddField("client", "phone", models.CharField(max_length=32, null=True, blank=True)),
)

#: The history names Category "Kind": Product.categories's table has a column named after it.
RENAMED_MODEL_WITH_MANY_TO_MANY = after_shop_0004(
    migrations.RenameModel("Category", "Kind"),
)


#: Two renames in one history: both edits go into the same models file.
TWO_RENAMES = after_shop_0004(
    migrations.RenameField("customer", "newsletter_opt_in", "subscribed"),
    migrations.RenameModel("OrderItem", "Line"),
)


@pytest.fixture
def shop_models() -> Iterator[Path]:
    """The example shop's models file, put back as it was after the test (--safe edits it)."""
    original = MODELS.read_text()
    try:
        yield MODELS
    finally:
        if MODELS.read_text() != original:
            MODELS.write_text(original)


@pytest.fixture
def yes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answers "y" to Django's questions ("Did you rename ...?"); the questions asked."""
    asked: list[str] = []

    def answer(prompt: str = "") -> str:
        asked.append(prompt)
        assert len(asked) < 5, asked
        return "y"

    monkeypatch.setattr("builtins.input", answer)
    return asked


def models_are_migrated(packages) -> bool:
    """``makemigrations --check`` in a new process, which imports the models file as it is now."""
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "shop", "--check", "--dry-run"],
        cwd=REPO,
        env={**os.environ, **packages.env()},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def renames(bundle) -> list[str]:
    """The statements of the bundle that rename a column or a table (but SQLite's copies of a
    table rebuilt, "new__<table>", renamed to the table's own name)."""
    return [
        sql
        for op in bundle.operations
        for sql in op.forward_sql + op.reverse_sql
        if "RENAME COLUMN" in sql.upper() or ("RENAME TO" in sql.upper() and "new__" not in sql)
    ]


def test_a_renamed_field_keeps_its_column(shop, packages, bundle_root, shop_models, yes) -> None:
    packages.add("shop", "0005_subscribed", RENAMED_FIELD)
    out = make("shop", safe=True, name="v2", interactive=True)
    assert "Was customer.subscribed renamed to customer.newsletter_opt_in" in out
    # The model says which column it keeps, and the output says where.
    line = next(
        n
        for n, text in enumerate(shop_models.read_text().splitlines(), 1)
        if "newsletter_opt_in = " in text
    )
    assert 'newsletter_opt_in = models.BooleanField(default=False, db_column="subscribed")' in (
        shop_models.read_text()
    )
    assert (
        "Kept the column of shop.Customer.newsletter_opt_in: added db_column='subscribed' to "
        f"example_project/shop/models.py:{line} (the rename costs no SQL; old code keeps working)"
    ) in out
    bundle = load_bundle(bundle_root / "shop" / "0006_v2")
    operations = [op.operation for op in bundle.operations if op.operation != "RunSQL"]
    assert operations[:2] == ["AlterField", "RenameField"]
    for op in bundle.operations[:3]:
        if op.operation in ("AlterField", "RenameField"):
            assert op.forward_sql == [] and op.reverse_sql == [], op
    assert not renames(bundle)
    assert '"subscribed"' not in (bundle_root / "shop" / "0006_v2" / "up.sql").read_text()
    assert "keeps its name 'subscribed' (db_column" in (shop / "0006_v2.py").read_text()
    assert (
        "makesafemigration --safe" in (bundle_root / "shop" / "0006_v2" / "README.md").read_text()
    )
    # Django's state is the models': nothing left to migrate.
    assert models_are_migrated(packages)
    assert_round_trip(
        bundle_root / "shop" / "0006_v2",
        parent=("shop", "0005_subscribed"),
        target=("shop", "0006_v2"),
    )
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_subscribed")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_customer (email, name, created_at, subscribed) "
                "VALUES ('a@b', 'A', CURRENT_TIMESTAMP, %s)",
                [True],
            )
        migrate(database, "shop", "0006_v2")
        with database.activated() as connection, connection.cursor() as cursor:
            # The code still running reads the column by its old name.
            cursor.execute("SELECT email, subscribed FROM shop_customer")
            assert cursor.fetchall() == [("a@b", True)]
        migrate(database, "shop", "0005_subscribed")


def rules(bundle_path: Path) -> set[str]:
    report = json.loads((bundle_path / "report.json").read_text())
    return {finding["rule"] for finding in report["findings"]}


def test_the_kept_renames_validate_and_no_rule_says_old_code_breaks(
    shop, packages, bundle_root, shop_models, yes
) -> None:
    packages.add("shop", "0005_two", TWO_RENAMES)
    call_command("migrate", "migration_studio", verbosity=0)
    make("shop", safe=True, name="v2", interactive=True)
    assert "MS154" not in rules(bundle_root / "shop" / "0006_v2")
    out = StringIO()
    call_command("validatemigration", "shop", stdout=out, stderr=StringIO(), no_color=True)
    assert ": passed" in out.getvalue() and "failed" not in out.getvalue(), out.getvalue()


def test_a_renamed_model_keeps_its_table(shop, packages, bundle_root, shop_models, yes) -> None:
    packages.add("shop", "0005_client", RENAMED_MODEL)
    out = make("shop", safe=True, name="v2", interactive=True)
    assert "Was the model shop.Client renamed to Customer?" in out
    source = shop_models.read_text()
    assert '        ordering = ["name"]\n        db_table = "shop_client"\n' in source
    line = source.splitlines().index('        db_table = "shop_client"') + 1
    assert (
        "Kept the table of shop.Customer: added db_table='shop_client' to "
        f"example_project/shop/models.py:{line}"
    ) in out
    bundle = load_bundle(bundle_root / "shop" / "0006_v2")
    rename = next(op for op in bundle.operations if op.operation == "SeparateDatabaseAndState")
    assert rename.forward_sql == [] and rename.reverse_sql == []
    assert not renames(bundle)
    assert "keeps its name 'shop_client' (db_table" in (shop / "0006_v2.py").read_text()
    assert models_are_migrated(packages)
    assert_round_trip(
        bundle_root / "shop" / "0006_v2", parent=("shop", "0005_client"), target=("shop", "0006_v2")
    )
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_client")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_client (email, name, created_at, newsletter_opt_in) "
                "VALUES ('a@b', 'A', CURRENT_TIMESTAMP, %s)",
                [False],
            )
        migrate(database, "shop", "0006_v2")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT email FROM shop_client")
            assert cursor.fetchall() == [("a@b",)]
            # The orders' foreign key still points at the table, by the same column.
            constraints = connection.introspection.get_constraints(cursor, "shop_order")
            cursor.execute(
                "INSERT INTO shop_order (status, created_at, total, discount, customer_id) "
                "SELECT 'new', CURRENT_TIMESTAMP, 1, 0, id FROM shop_client"
            )
        assert any(
            c["foreign_key"] == ("shop_client", "id") and c["columns"] == ["customer_id"]
            for c in constraints.values()
        )
        migrate(database, "shop", "0005_client")


def test_a_model_with_a_many_to_many_table_is_renamed_as_django_does_saying_why(
    shop, packages, bundle_root, shop_models, yes
) -> None:
    packages.add("shop", "0005_kind", RENAMED_MODEL_WITH_MANY_TO_MANY)
    original = shop_models.read_text()
    out = make("shop", safe=True, name="v2", interactive=True)
    assert (
        "Kept Django's rename of table of shop.Category (its table 'shop_kind' becomes "
        "'shop_category', which breaks the code still running): the table of "
        "Product.categories (many-to-many) has a column named after the model, which the "
        "rename renames. To keep the table, add db_table='shop_kind' to its class Meta by hand "
        "before making the migration."
    ) in out
    assert shop_models.read_text() == original
    bundle = load_bundle(bundle_root / "shop" / "0006_v2")
    assert "RenameModel" in [op.operation for op in bundle.operations]
    assert renames(bundle)
    assert "MS154" in rules(bundle_root / "shop" / "0006_v2")  # old code breaks: said
    assert models_are_migrated(packages)


def test_a_dry_run_edits_nothing_and_says_what_it_would(
    shop, packages, bundle_root, shop_models, yes
) -> None:
    packages.add("shop", "0005_subscribed", RENAMED_FIELD)
    original = shop_models.read_text()
    out = make("shop", safe=True, name="v2", interactive=True, dry_run=True)
    assert shop_models.read_text() == original
    assert not list(shop.glob("0006_*"))
    assert (
        "Kept the column of shop.Customer.newsletter_opt_in: would add db_column='subscribed' "
        "to example_project/shop/models.py:"
    ) in out


def test_check_edits_nothing(shop, packages, bundle_root, shop_models, yes) -> None:
    packages.add("shop", "0005_subscribed", RENAMED_FIELD)
    original = shop_models.read_text()
    out = StringIO()
    with pytest.raises(SystemExit) as exit_status:
        call_command(
            "makesafemigration", "shop", safe=True, check_changes=True, stdout=out, no_color=True
        )
    assert exit_status.value.code == 1
    assert shop_models.read_text() == original
    assert not list(shop.glob("0006_*"))
    assert "would add db_column='subscribed' to example_project/shop/models.py:" in out.getvalue()


def test_without_safe_the_output_lists_the_renames(
    shop, packages, bundle_root, shop_models, yes
) -> None:
    packages.add("shop", "0005_subscribed", RENAMED_FIELD)
    original = shop_models.read_text()
    out = make("shop", name="v2", interactive=True)
    assert shop_models.read_text() == original
    assert "With --safe:" in out
    assert (
        "column of shop.Customer.newsletter_opt_in: keeps its name 'subscribed' (db_column added "
        "to the model's source), the rename runs no SQL"
    ) in out
    assert renames(load_bundle(bundle_root / "shop" / "0006_v2"))
    report = json.loads((bundle_root / "shop" / "0006_v2" / "report.json").read_text())
    [renamed] = [f for f in report["findings"] if f["rule"] == "MS154"]
    assert "keeps its name 'subscribed'" in renamed["safe_rewrite"]


def test_other_databases_keep_names_and_say_the_rest_is_postgresqls(
    shop, packages, bundle_root, shop_models, yes
) -> None:
    vendor = connections["default"].vendor
    if vendor == "postgresql":
        pytest.skip("the other databases' answer")
    packages.add("shop", "0005_subscribed", RENAMED_FIELD)
    out = make("shop", safe=True, name="v2", interactive=True)
    assert f"--safe on {vendor}: the rewrites that avoid locks" in out
    assert "renamed fields and models still keep their column or table names" in out
    bundle = load_bundle(bundle_root / "shop" / "0006_v2")
    # No lock_timeout setting: that is PostgreSQL's.
    assert "lock_timeout" not in (bundle_root / "shop" / "0006_v2" / "up.sql").read_text()
    assert not renames(bundle)


#: The model as a project may write it: the field comes from a base class.
FROM_A_BASE = """
class Subscription:
    newsletter_opt_in = None


class Customer(Subscription):
    name = None
"""


def test_a_field_defined_in_a_base_class_is_renamed_as_django_does_saying_why(
    shop, packages, bundle_root, shop_models, yes, tmp_path, monkeypatch
) -> None:
    (tmp_path / "ms_customer_source.py").write_text(FROM_A_BASE)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("ms_customer_source")

    class Registry:
        def get_model(self, app_label: str, name: str) -> type:
            return module.Customer

    monkeypatch.setattr("migration_studio.rewrites.renames.django_apps", Registry())
    packages.add("shop", "0005_subscribed", RENAMED_FIELD)
    original = shop_models.read_text()
    out = make("shop", safe=True, name="v2", interactive=True)
    assert (
        "Kept Django's rename of column of shop.Customer.newsletter_opt_in (its column "
        "'subscribed' becomes 'newsletter_opt_in', which breaks the code still running): "
        "newsletter_opt_in is not assigned in the body of Customer (inherited from a base class "
        "or a mixin, or added some other way). To keep the column, add db_column='subscribed' to "
        "the field by hand before making the migration."
    ) in out
    assert (tmp_path / "ms_customer_source.py").read_text() == FROM_A_BASE
    assert shop_models.read_text() == original
    bundle = load_bundle(bundle_root / "shop" / "0006_v2")
    assert "AlterField" not in [op.operation for op in bundle.operations][:2]
    assert renames(bundle) and "Kept the column" not in out


def test_two_renames_edit_one_file_each_line_said(
    shop, packages, bundle_root, shop_models, yes
) -> None:
    packages.add("shop", "0005_two", TWO_RENAMES)
    out = make("shop", safe=True, name="v2", interactive=True)
    lines = shop_models.read_text().splitlines()
    column = next(n for n, line in enumerate(lines, 1) if 'db_column="subscribed"' in line)
    table = lines.index('        db_table = "shop_line"') + 1
    assert f"added db_column='subscribed' to example_project/shop/models.py:{column} " in out
    assert f"added db_table='shop_line' to example_project/shop/models.py:{table} " in out
    assert not renames(load_bundle(bundle_root / "shop" / "0006_v2"))
    assert models_are_migrated(packages)
