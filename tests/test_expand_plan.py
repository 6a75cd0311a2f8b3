"""Expand / backfill / contract, on real databases with rows: ``makesafemigration`` writes three
migrations for a NOT NULL column the table's rows have no value for; they apply, fill the rows in
batches, reverse, and leave Django's state as the plain migration would; the backfill stub runs as
generated, changes nothing the second time, and resumes after an interruption."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from migration_studio.bundle.store import load_bundle
from migration_studio.scratch.database import ScratchDatabase

from .conftest import make, migrate, written_after

#: The history drops customer.name and order.customer; the models still have both (NOT NULL,
#: no default), so the autodetector adds them back.
DROP_NAME = """
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0004_orderitem_constraints")]
    operations = [migrations.RemoveField("customer", "name")]
"""
PARENT = "0005_drop_name"
EXPAND, BACKFILL, CONTRACT = (
    "0006_restore",
    "0007_backfill_customer_name",
    "0008_customer_name_not_null",
)


@pytest.fixture
def plan(shop, packages, bundle_root) -> Path:
    packages.add("shop", PARENT, DROP_NAME)
    make("shop", interactive=False, name="restore")
    return shop


def test_noinput_writes_the_three_stages_each_with_its_bundle(plan, bundle_root) -> None:
    assert sorted(p.name for p in plan.glob("000[6-9]_*.py")) == [
        f"{EXPAND}.py",
        f"{BACKFILL}.py",
        f"{CONTRACT}.py",
    ]
    expand, backfill, contract = (
        load_bundle(bundle_root / "shop" / name) for name in (EXPAND, BACKFILL, CONTRACT)
    )
    add_name = next(
        op for op in expand.operations if op.description == "Add field name to customer"
    )
    assert add_name.operation_facts.field_after.null
    assert [op.operation for op in backfill.operations] == ["RunPython"]
    assert not backfill.atomic and backfill.dependencies == [["shop", EXPAND]]
    assert [op.operation for op in contract.operations] == ["AlterField"]
    assert contract.dependencies == [["shop", BACKFILL]]
    assert not contract.operations[0].operation_facts.field_after.null
    # The contract's checks prove no row is left without a value before it runs.
    checks = (bundle_root / "shop" / CONTRACT / "checks.sql").read_text()
    assert '"name" IS NULL' in checks
    # Django's state after the three is the models': nothing left to detect.
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    stub = (plan / f"{BACKFILL}.py").read_text()
    assert ">>> DECIDE HERE <<<" in stub and 'return ""' in stub
    assert "shop.Customer.name" in stub


def test_the_interactive_questioner_offers_the_plan_first(
    shop, packages, bundle_root, monkeypatch
) -> None:
    packages.add("shop", PARENT, DROP_NAME)
    answers = iter(["1"])
    monkeypatch.setattr("builtins.input", lambda *args: next(answers))
    out = make("shop", name="restore")
    assert "1) Expand, backfill, contract (migration_studio)" in out
    assert (shop / f"{BACKFILL}.py").exists()


def with_body(source: str, function: str, body: str) -> str:
    """``source`` with the code of ``function`` after its docstring replaced by ``body``."""
    start = source.index(f"def {function}(")
    docstring_end = source.index('"""', source.index('"""', start) + 3) + 3
    end = source.index("\n\n\n", docstring_end)
    return source[:docstring_end] + "\n" + body + source[end:]


def stub_module(directory: Path, name: str):
    module = importlib.import_module(f"{directory.parent.name}.migrations.{name}")
    return importlib.reload(module)


def add_customers(database: ScratchDatabase, count: int) -> None:
    with database.activated() as connection, connection.cursor() as cursor:
        for number in range(count):
            cursor.execute(
                "INSERT INTO shop_customer (email, created_at, newsletter_opt_in) "
                "VALUES (%s, %s, %s)",
                [f"c{number}@example.com", "2026-01-01 00:00:00", False],
            )


def column_values(database: ScratchDatabase) -> list:
    with database.activated() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT name FROM shop_customer ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def is_nullable(database: ScratchDatabase) -> bool:
    with database.activated() as connection, connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, "shop_customer")
        return next(c for c in columns if c.name == "name").null_ok


def test_the_plan_applies_fills_the_rows_and_reverses(plan, capsys) -> None:
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", PARENT)
        add_customers(database, 250)
        migrate(database, "shop", EXPAND)
        assert is_nullable(database) and set(column_values(database)) == {None}
        migrate(database, "shop", CONTRACT)
        assert column_values(database) == [""] * 250
        assert not is_nullable(database)
        out = capsys.readouterr().out
        assert "Backfilling shop.Customer.name: 250 / 250 rows, done in" in out
        # Back to the parent state, and forward again.
        migrate(database, "shop", PARENT)
        with database.activated() as connection, connection.cursor() as cursor:
            names = [
                c.name
                for c in connection.introspection.get_table_description(cursor, "shop_customer")
            ]
        assert "name" not in names
        migrate(database, "shop", CONTRACT)
        assert column_values(database) == [""] * 250


def test_the_backfill_changes_nothing_twice_and_resumes_after_an_interruption(
    plan, capsys, monkeypatch
) -> None:
    module = stub_module(plan, BACKFILL)
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", PARENT)
        add_customers(database, 450)
        migrate(database, "shop", EXPAND)
        capsys.readouterr()
        with database.activated() as connection:
            from django.db.migrations.loader import MigrationLoader

            state = MigrationLoader(connection).project_state(("shop", EXPAND))
            with connection.schema_editor(atomic=False) as editor:
                real_atomic = module.transaction.atomic
                calls = []

                def interrupted_after_two(*args, **kwargs):
                    calls.append(1)
                    if len(calls) > 2:
                        raise KeyboardInterrupt
                    return real_atomic(*args, **kwargs)

                monkeypatch.setattr(module.transaction, "atomic", interrupted_after_two)
                with pytest.raises(KeyboardInterrupt):
                    module.forwards(state.apps, editor)
                monkeypatch.setattr(module.transaction, "atomic", real_atomic)
                filled = sum(value is not None for value in column_values(database))
                assert 0 < filled < 450  # two batches committed, the rest not touched
                module.forwards(state.apps, editor)  # resumes
                out = capsys.readouterr().out
                assert f"{450 - filled:,} / {450 - filled:,} rows" in out
                assert column_values(database) == [""] * 450
                module.forwards(state.apps, editor)  # nothing left to do
                out = capsys.readouterr().out
                assert "Backfilling shop.Customer.name: no row to change." in out


def test_no_rows_and_a_value_left_to_decide(shop, packages, bundle_root) -> None:
    drop_customer = DROP_NAME.replace(
        'RemoveField("customer", "name")', 'RemoveField("order", "customer")'
    )
    packages.add("shop", PARENT, drop_customer)
    make("shop", interactive=False, name="restore")
    stub = next(shop.glob("0007_backfill_order_customer.py"))
    text = stub.read_text()
    assert "raise NotImplementedError(" in text
    assert "Decide the value of shop.Order.customer" in text
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", PARENT)
        # No rows: the stub runs as generated and says so.
        migrate(database, "shop", "0008_order_customer_not_null")
        migrate(database, "shop", PARENT)
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_order (status, created_at, total) VALUES ('new', %s, 1)",
                ["2026-01-01 00:00:00"],
            )
        migrate(database, "shop", "0006_restore")
        with pytest.raises(NotImplementedError, match="edit new_value\\(\\) in shop/migrations"):
            migrate(database, "shop", "0007_backfill_order_customer")


@pytest.fixture(autouse=True)
def _forget_stub_modules():
    yield
    for name in [n for n in sys.modules if ".migrations.0007_backfill" in n]:
        del sys.modules[name]
    connections["default"].close()


def test_the_risk_report_knows_the_backfill_is_batched(plan, bundle_root) -> None:
    report = json.loads((bundle_root / "shop" / BACKFILL / "report.json").read_text())
    [finding] = [f for f in report["findings"] if f["rule"] == "MS142"]
    assert finding["severity"] == "info"
    assert "each committed on its own" in finding["message"]
    assert report["forward_risk"] in ("info", "low")
    # Made atomic by hand, the same code holds every row it updates until the end.
    stub = plan / f"{BACKFILL}.py"
    stub.write_text(stub.read_text().replace("atomic = False", "atomic = True"))
    call_command("bundlemigration", "shop", BACKFILL, verbosity=0)
    report = json.loads((bundle_root / "shop" / BACKFILL / "report.json").read_text())
    [finding] = [f for f in report["findings"] if f["rule"] == "MS142"]
    assert finding["severity"] == "high" and "Set atomic = False" in finding["message"]


def test_the_output_names_the_stub_and_not_what_the_capture_ran(
    shop, packages, bundle_root, capsys
) -> None:
    packages.add("shop", PARENT, DROP_NAME)
    out = make("shop", interactive=False, name="restore")
    printed = out + capsys.readouterr().out
    assert f"{BACKFILL}.py" in out and "Decide the value in its new_value()" in out
    assert "Backfilling" not in printed  # the stub ran on the empty scratch table, silently


def test_each_stage_says_what_it_is_in_its_file_and_its_bundle_readme(plan, bundle_root) -> None:
    for name, stage in ((EXPAND, "Stage 1"), (BACKFILL, "stage 2"), (CONTRACT, "Stage 3")):
        source = (plan / f"{name}.py").read_text()
        assert stage in source.split('"""')[1], name
        readme = (bundle_root / "shop" / name / "README.md").read_text()
        assert "## Notes from the migration file" in readme and stage in readme, name
    expand = (plan / f"{EXPAND}.py").read_text()
    assert f"shop.{CONTRACT} completes the change" in " ".join(expand.split())


def test_data_writes_a_batched_data_migration_for_the_models_given(
    shop, bundle_root, capsys
) -> None:
    out = make("shop", data=["Customer"])
    [path] = shop.glob("0005_data_customer.py")
    assert "0005_data_customer.py" in out
    text = path.read_text()
    assert "def pending_customer(rows):" in text and "def change_customer(batch):" in text
    report = json.loads((bundle_root / "shop" / path.stem / "report.json").read_text())
    [finding] = [f for f in report["findings"] if f["rule"] == "MS142"]
    assert finding["severity"] == "info" and "shop.Customer" in finding["message"]
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0004_orderitem_constraints")
        with database.activated() as connection, connection.cursor() as cursor:
            for number in range(30):
                cursor.execute(
                    "INSERT INTO shop_customer (email, name, created_at, newsletter_opt_in) "
                    "VALUES (%s, %s, %s, %s)",
                    [f"c{number}@example.com", f"Name {number}", "2026-01-01 00:00:00", False],
                )
        capsys.readouterr()
        migrate(database, "shop", path.stem)  # runs as generated: nothing pending
        assert "Changing shop.Customer: no row to change." in capsys.readouterr().out
        # Decided: every customer's name gets a "N!" prefix, once.
        decided = text.replace(
            "    return rows.none()", "    return rows.exclude(name__startswith='N!')"
        )
        path.write_text(
            with_body(
                decided,
                "change_customer",
                '    return batch.update(name=functions.Concat(models.Value("N!"), "name"))',
            )
        )
        for name in [n for n in sys.modules if n.endswith("0005_data_customer")]:
            del sys.modules[name]
        migrate(database, "shop", "0004_orderitem_constraints")
        migrate(database, "shop", path.stem)
        assert "Changing shop.Customer: 30 / 30 rows, done in" in capsys.readouterr().out
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT name FROM shop_customer ORDER BY id")
            assert [row[0] for row in cursor.fetchall()] == [f"N!Name {n}" for n in range(30)]


def test_data_refuses_an_unknown_model_and_more_than_one_app(shop, bundle_root) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="App 'shop' has no model 'Nope'"):
        make("shop", data=["Nope"])
    with pytest.raises(CommandError, match="--data needs exactly one app label"):
        make(data=["Order"])
    assert not list(shop.glob("0005_*.py")) and not bundle_root.exists()


def test_check_and_dry_run_name_the_plan_and_write_nothing(
    shop, packages, bundle_root, capsys
) -> None:
    packages.add("shop", PARENT, DROP_NAME)
    with pytest.raises(SystemExit) as exit_info:
        make("shop", check=True, name="restore")
    assert exit_info.value.code == 1
    out = make("shop", dry_run=True, name="restore", interactive=False)
    printed = out + capsys.readouterr().out
    for name in (EXPAND, BACKFILL, CONTRACT):
        assert f"{name}.py" in out
    assert "Backfilling" not in printed
    assert not list(shop.glob("000[6-9]_*.py")) and not bundle_root.exists()


#: The history has customer.name as a number; the models say text.
NAME_AS_NUMBER = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0004_orderitem_constraints")]
    operations = [migrations.AlterField("customer", "name", models.IntegerField(default=0))]
"""


def test_a_change_of_type_converts_in_batches_when_asked(
    shop, packages, bundle_root, monkeypatch, capsys
) -> None:
    packages.add("shop", "0005_name_number", NAME_AS_NUMBER)
    answers = iter(["1"])
    monkeypatch.setattr("builtins.input", lambda *args: next(answers))
    out = make("shop", name="restore")
    assert "changes from integer to text" in out
    names = written_after(shop, "0005")
    assert names == ["0006_restore", "0007_convert_customer_name", "0008_customer_name_swap"]
    stub = (shop / "0007_convert_customer_name.py").read_text()
    assert "return str(value)" in stub and ">>> DECIDE HERE <<<" in stub
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_name_number")
        with database.activated() as connection, connection.cursor() as cursor:
            for number in range(120):
                cursor.execute(
                    "INSERT INTO shop_customer (email, name, created_at, newsletter_opt_in) "
                    "VALUES (%s, %s, %s, %s)",
                    [f"c{number}@example.com", number, "2026-01-01 00:00:00", False],
                )
        capsys.readouterr()
        migrate(database, "shop", "0008_customer_name_swap")
        assert "Converting shop.Customer.name: 120 / 120 rows" in capsys.readouterr().out
        assert column_values(database) == [str(n) for n in range(120)]
        assert not is_nullable(database)
        # Rolling the swap back re-creates the old column, without its values: the report says so.
        migrate(database, "shop", "0005_name_number")
        assert set(column_values(database)) == {0}
        report = json.loads(
            (bundle_root / "shop" / "0008_customer_name_swap" / "report.json").read_text()
        )
        assert any(f["data_loss"] or f["data_loss_on_rollback"] for f in report["findings"])
        for name in [n for n in sys.modules if "0007_convert" in n]:
            del sys.modules[name]


def test_without_a_terminal_a_change_of_type_is_left_to_the_database(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", "0005_name_number", NAME_AS_NUMBER)
    make("shop", name="retype", interactive=False)
    assert written_after(shop, "0005") == ["0006_retype"]


#: The history has order.customer as the customer's email; the models make it a foreign key.
CUSTOMER_AS_EMAIL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0004_orderitem_constraints")]
    operations = [
        migrations.AlterField("order", "customer", models.CharField(max_length=254, default="")),
    ]
"""


def test_a_value_becomes_a_foreign_key_with_the_lookup_you_write(
    shop, packages, bundle_root, monkeypatch, capsys
) -> None:
    packages.add("shop", "0005_customer_email", CUSTOMER_AS_EMAIL)
    answers = iter(["1"])
    monkeypatch.setattr("builtins.input", lambda *args: next(answers))
    out = make("shop", name="restore")
    assert "changes from text to ForeignKey to shop.customer" in out
    path = shop / "0007_convert_order_customer.py"
    text = path.read_text()
    assert "raise NotImplementedError(" in text  # no conversion to a foreign key by itself
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    path.write_text(
        with_body(
            text,
            "convert",
            '    return apps.get_model("shop", "Customer").objects.get(email=value).pk',
        )
    )
    for name in [n for n in sys.modules if "0007_convert" in n]:
        del sys.modules[name]
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_customer_email")
        with database.activated() as connection, connection.cursor() as cursor:
            for number in range(3):
                cursor.execute(
                    "INSERT INTO shop_customer (email, name, created_at, newsletter_opt_in) "
                    "VALUES (%s, %s, %s, %s)",
                    [f"c{number}@example.com", "N", "2026-01-01 00:00:00", False],
                )
            for number in (2, 0, 1, 2):
                cursor.execute(
                    "INSERT INTO shop_order (status, created_at, total, customer) "
                    "VALUES ('new', %s, 1, %s)",
                    ["2026-01-01 00:00:00", f"c{number}@example.com"],
                )
        capsys.readouterr()
        migrate(database, "shop", "0008_order_customer_swap")
        assert "Converting shop.Order.customer: 4 / 4 rows" in capsys.readouterr().out
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.email FROM shop_order o JOIN shop_customer c ON c.id = o.customer_id "
                "ORDER BY o.id"
            )
            assert [row[0] for row in cursor.fetchall()] == [
                f"c{n}@example.com" for n in (2, 0, 1, 2)
            ]
    for name in [n for n in sys.modules if "0007_convert" in n]:
        del sys.modules[name]


def test_a_model_without_a_single_column_key_is_refused_before_anything_is_written(
    shop, packages, bundle_root, monkeypatch
) -> None:
    """A composite primary key (Django 5.2's CompositePrimaryKey has no single column) cannot be
    walked by key ranges: the command says so and writes nothing; a stub run on such a model
    stops before changing a row."""
    from types import SimpleNamespace

    from django.apps import apps as real_apps
    from django.core.management.base import CommandError

    from migration_studio.rewrites import expand

    composite = SimpleNamespace(_meta=SimpleNamespace(pk=SimpleNamespace(column=None), label="x"))

    class Apps:
        def get_model(self, app_label, model_name):
            if (app_label, model_name.lower()) == ("shop", "customer"):
                return composite
            return real_apps.get_model(app_label, model_name)

    monkeypatch.setattr(expand, "django_apps", Apps())
    packages.add("shop", PARENT, DROP_NAME)
    with pytest.raises(CommandError, match=r"no single-column primary key.*Nothing was written"):
        make("shop", interactive=False, name="restore")
    assert not list(shop.glob("000[6-9]_*.py")) and not bundle_root.exists()

    monkeypatch.setattr(expand, "django_apps", real_apps)
    make("shop", interactive=False, name="restore")
    module = stub_module(shop, BACKFILL)
    with pytest.raises(RuntimeError, match="no single-column primary key"):
        module.walk(composite, None, None, "default", "Backfilling x")
