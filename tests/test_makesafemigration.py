"""``makesafemigration`` end to end on the example shop: the migration file plus its bundle."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from migration_studio.bundle.model import sha256
from migration_studio.bundle.store import load_bundle
from migration_studio.validation.schema import snapshot

from .conftest import assert_round_trip, no_scratch_left

PENDING = "0005_customer_phone_order_discount_alter_product_name"


def run(*args: str, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("makesafemigration", *args, stdout=out, stderr=err, no_color=True, **options)
    return out.getvalue(), err.getvalue()


def test_writes_the_migration_and_its_bundle(shop: Path, bundle_root: Path) -> None:
    out, _ = run("shop")

    migration_file = shop / f"{PENDING}.py"
    bundle_path = bundle_root / "shop" / PENDING
    assert migration_file.exists()
    assert sorted(p.name for p in bundle_path.iterdir()) == [
        "README.md",
        "bundle.json",
        "checks.sql",
        "down.sql",
        "report.json",
        "rollback-plan.md",
        "up.sql",
    ]
    assert "Migrations for 'shop':" in out
    assert f"{PENDING}/" in out
    assert "3 operation(s)" in out and "reversible" in out

    bundle = load_bundle(bundle_path)
    assert bundle.hashes["migration"] == sha256(migration_file.read_bytes())
    assert bundle.hashes["up.sql"] == sha256((bundle_path / "up.sql").read_text())
    assert bundle.hashes["down.sql"] == sha256((bundle_path / "down.sql").read_text())
    assert [op.operation for op in bundle.operations] == ["AddField", "AddField", "AlterField"]
    assert bundle.dependencies == [["shop", "0004_orderitem_constraints"]]
    assert bundle.vendor == connections["default"].vendor
    assert no_scratch_left()


def test_bundle_round_trips(shop: Path, bundle_root: Path) -> None:
    run("shop")
    assert_round_trip(
        bundle_root / "shop" / PENDING,
        parent=("shop", "0004_orderitem_constraints"),
        target=("shop", PENDING),
    )


def test_bundle_json_and_readme_describe_the_migration(shop: Path, bundle_root: Path) -> None:
    run("shop")
    bundle_path = bundle_root / "shop" / PENDING
    data = json.loads((bundle_path / "bundle.json").read_text())
    assert data["format_version"] == 1
    assert data["app_label"] == "shop" and data["migration_name"] == PENDING
    assert data["reversible"] is True
    first = data["operations"][0]
    assert first["description"] == "Add field phone to customer"
    assert first["forward_sql"] and first["reverse_sql"]
    readme = (bundle_path / "README.md").read_text()
    assert "## Rollback" in readme
    assert "python manage.py migrate shop 0004_orderitem_constraints" in readme


def test_verbosity_2_prints_the_sql(shop: Path, bundle_root: Path) -> None:
    out, _ = run("shop", verbosity=2)
    assert "up.sql:" in out and "down.sql:" in out
    assert 'ADD COLUMN "phone"' in out


def test_dry_run_captures_but_writes_nothing(shop: Path, bundle_root: Path) -> None:
    out, _ = run("shop", dry_run=True)
    assert "dry run, nothing written" in out
    assert "3 operation(s)" in out
    assert not (shop / f"{PENDING}.py").exists()
    assert not bundle_root.exists()


def test_check_exits_non_zero_when_changes_are_missing(shop: Path, bundle_root: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run("shop", check_changes=True)
    assert exit_info.value.code == 1
    assert not (shop / f"{PENDING}.py").exists()
    assert not bundle_root.exists()


def test_no_changes_behaves_like_makemigrations(shop: Path, bundle_root: Path) -> None:
    run("shop")
    out, _ = run("shop")
    assert out.strip() == "No changes detected in app 'shop'"
    run("shop", check_changes=True)  # up to date: no SystemExit


def test_name_and_empty(shop: Path, bundle_root: Path) -> None:
    out, _ = run("shop", empty=True, name="custom_step")
    bundle = load_bundle(bundle_root / "shop" / "0005_custom_step")
    assert bundle.operations == []
    assert (shop / "0005_custom_step.py").exists()
    assert "Next:" in out
    assert (
        "then capture their SQL with 'python manage.py bundlemigration shop 0005_custom_step'"
        in (" ".join(out.split()))
    )


def test_the_next_step_after_empty_bundles_the_edited_migration(
    shop: Path, bundle_root: Path
) -> None:
    """Following the printed advice gives the edited migration a bundle with its SQL, and
    validatemigration accepts it."""
    out, _ = run("shop", empty=True, name="custom_step")
    command = re.search(r"'python manage.py (bundlemigration [^']+)'", out).group(1).split()
    path = shop / "0005_custom_step.py"
    path.write_text(
        path.read_text().replace(
            "operations = [",
            "operations = [\n        migrations.RunSQL("
            "'CREATE TABLE custom_step (id integer)', 'DROP TABLE custom_step'),",
        )
    )
    call_command(*command, verbosity=0)
    bundle = load_bundle(bundle_root / "shop" / "0005_custom_step")
    assert bundle.operations[0].forward_sql == ["CREATE TABLE custom_step (id integer);"]
    call_command("validatemigration", "shop", "0005", verbosity=0)
    validation = json.loads(
        (bundle_root / "shop" / "0005_custom_step" / "validation.json").read_text()
    )
    assert validation["status"] == "passed"


def test_no_next_step_without_empty(shop: Path, bundle_root: Path) -> None:
    out, _ = run("shop")
    assert "Next:" not in out


def test_noinput_answers_like_makemigrations(shop: Path, bundle_root: Path) -> None:
    # The pending change is non-interactive already; --noinput must not change the result.
    run("shop", interactive=False)
    assert (bundle_root / "shop" / PENDING / "up.sql").exists()


def test_the_real_database_is_never_written(shop: Path, bundle_root: Path) -> None:
    connection = connections["default"]
    before = snapshot(connection)
    run("shop")
    assert snapshot(connection) == before


def test_scriptable_prints_only_paths_on_stdout(shop: Path, bundle_root: Path) -> None:
    out, err = run("shop", scriptable=True)
    assert out.strip().endswith(f"{PENDING}.py")
    assert "Bundles:" in err


MOBILE = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0004_orderitem_constraints")]
    operations = [
        migrations.AddField("customer", "mobile",
                            models.CharField(blank=True, max_length=32, null=True)),
        migrations.AddField("order", "discount",
                            models.DecimalField(decimal_places=2, default=0, max_digits=12)),
        migrations.AlterField("product", "name", models.CharField(db_index=True, max_length=200)),
    ]
"""


def test_interactive_rename_question(shop, packages, bundle_root, monkeypatch) -> None:
    """The models call the field 'phone', the history 'mobile': makemigrations asks, so do we."""
    packages.add("shop", "0005_mobile", MOBILE)
    answers = iter(["y"])
    monkeypatch.setattr("builtins.input", lambda: next(answers))
    out, _ = run("shop", name="rename")
    assert "Was customer.mobile renamed to customer.phone" in out
    bundle = load_bundle(bundle_root / "shop" / "0006_rename")
    assert [op.operation for op in bundle.operations] == ["RenameField"]
    if connections["default"].vendor == "postgresql":
        assert bundle.operations[0].forward_sql == [
            'ALTER TABLE "shop_customer" RENAME COLUMN "mobile" TO "phone";'
        ]


def test_noinput_gives_the_non_interactive_answer(shop, packages, bundle_root) -> None:
    packages.add("shop", "0005_mobile", MOBILE)
    run("shop", name="no_rename", interactive=False)
    bundle = load_bundle(bundle_root / "shop" / "0006_no_rename")
    assert sorted(op.operation for op in bundle.operations) == ["AddField", "RemoveField"]


def test_update_rebundles_the_merged_migration(shop, packages, bundle_root) -> None:
    packages.add("shop", "0005_mobile", MOBILE)
    call_command("bundlemigration", "shop", "0005", verbosity=0)
    assert (bundle_root / "shop" / "0005_mobile").is_dir()

    run("shop", update=True, name="contact", interactive=False)

    assert not (shop / "0005_mobile.py").exists()
    assert not (bundle_root / "shop" / "0005_mobile").exists()
    bundle = load_bundle(bundle_root / "shop" / "0005_contact")
    # The merged migration starts from 0004: its capture must not assume 0005_mobile applied.
    assert bundle.dependencies == [["shop", "0004_orderitem_constraints"]]
    assert "phone" in "".join(op.description for op in bundle.operations)
    assert_round_trip(
        bundle_root / "shop" / "0005_contact",
        parent=("shop", "0004_orderitem_constraints"),
        target=("shop", "0005_contact"),
    )


def test_reduced_state_gives_the_same_bundle_as_the_full_state(
    shop, bundle_root, monkeypatch
) -> None:
    from migration_studio.capture.session import CaptureSession

    def sql() -> list[list[str]]:
        run("shop", name="step")
        bundle = load_bundle(bundle_root / "shop" / "0005_step")
        (shop / "0005_step.py").unlink()
        return [op.all_forward_sql + op.all_reverse_sql for op in bundle.operations]

    reduced = sql()
    monkeypatch.setattr(CaptureSession, "reduce_state", False)
    assert sql() == reduced


def test_bundle_json_names_each_operation_class(shop: Path, bundle_root: Path) -> None:
    run("shop")
    data = json.loads((bundle_root / "shop" / PENDING / "bundle.json").read_text())
    assert [op["class"] for op in data["operations"]] == ["AddField", "AddField", "AlterField"]
    assert {
        "index",
        "class",
        "description",
        "forward_sql",
        "reverse_sql",
        "reversible",
        "reason",
    } <= set(data["operations"][0])
    assert set(data["hashes"]) == {"migration", "up.sql", "down.sql"}
    for key in ("created_at", "django_version", "vendor", "server_version", "dependencies"):
        assert data[key]


DROP_NAME = """
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0004_orderitem_constraints")]
    operations = [migrations.RemoveField("customer", "name")]
"""


def test_interactive_one_off_default(shop, packages, bundle_root, monkeypatch) -> None:
    packages.add("shop", "0005_drop_name", DROP_NAME)
    answers = iter(["2", "'Unknown'"])  # 1 is expand / backfill / contract (test_expand_plan)
    monkeypatch.setattr("builtins.input", lambda *args: next(answers))
    run("shop", name="name_back")
    bundle = load_bundle(bundle_root / "shop" / "0006_name_back")
    add_name = next(
        op for op in bundle.operations if op.description == "Add field name to customer"
    )
    assert "Unknown" in "".join(add_name.all_forward_sql)
