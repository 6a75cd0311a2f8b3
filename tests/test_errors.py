"""Bad input: one clear sentence, a non-zero exit, no traceback and nothing half-written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import migrations

from .conftest import REPO, migration_source, no_scratch_left

PENDING = "0005_customer_phone_order_discount_alter_product_name"


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a management command in a fresh process, as a user or a pipeline does."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        check=False,
        timeout=120,
    )


def assert_clean_failure(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr


def test_unknown_app_label() -> None:
    result = manage("makesafemigration", "no_such_app", "--dry-run")
    assert_clean_failure(result, "No installed app with label 'no_such_app'.")


def test_invalid_name(shop: Path, bundle_root: Path) -> None:
    with pytest.raises(CommandError, match="must be a valid Python identifier"):
        call_command("makesafemigration", "shop", name="not-valid", verbosity=0)
    assert not bundle_root.exists()


def test_conflicting_leaf_migrations(shop: Path, packages, bundle_root: Path) -> None:
    source = (shop / "0004_orderitem_constraints.py").read_text()
    packages.add("shop", "0004_conflict", source)
    with pytest.raises(CommandError, match="Conflicting migrations detected"):
        call_command("makesafemigration", "shop", verbosity=0)
    assert not bundle_root.exists()
    assert not (shop / f"{PENDING}.py").exists()


def test_unreachable_database(shop: Path, bundle_root: Path) -> None:
    with pytest.raises(
        CommandError,
        match=re.escape(
            "Cannot create a scratch database on the server of "
            "postgresql database 'unreachable' at 127.0.0.1:9"
        ),
    ):
        call_command("makesafemigration", "shop", database="unreachable", verbosity=0)
    assert not (shop / f"{PENDING}.py").exists()
    assert not bundle_root.exists()


def test_unreachable_database_from_the_command_line(shop: Path, packages, tmp_path) -> None:
    result = manage(
        "makesafemigration",
        "shop",
        "--database",
        "unreachable",
        env={**packages.env(), "MS_TEST_BUNDLE_ROOT": str(tmp_path / "b")},
    )
    assert_clean_failure(result, "CommandError: Cannot create a scratch database")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (shop / f"{PENDING}.py").exists()


def test_unknown_database_alias(shop: Path, bundle_root: Path) -> None:
    with pytest.raises(CommandError, match="There is no database 'nope' in DATABASES"):
        call_command("makesafemigration", "shop", database="nope", verbosity=0)


def test_unwritable_bundle_directory(shop: Path, tmp_path: Path, settings) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    settings.MIGRATION_STUDIO = {"BUNDLE_ROOT": blocker / "bundles"}
    with pytest.raises(CommandError, match="is not writable"):
        call_command("makesafemigration", "shop", verbosity=0)
    assert not (shop / f"{PENDING}.py").exists()


def test_invalid_settings_are_a_system_check_error(tmp_path: Path) -> None:
    settings_module = tmp_path / "bad_settings.py"
    settings_module.write_text(
        "from tests.settings import *\nMIGRATION_STUDIO = {'BUNDLE_ROOT': 42, 'NOPE': 1}\n"
    )
    result = manage(
        "makesafemigration",
        "--dry-run",
        env={
            "DJANGO_SETTINGS_MODULE": "bad_settings",
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        },
    )
    assert_clean_failure(result, "migration_studio.E002")
    assert "migration_studio.E003" in result.stderr


def test_failing_operation_writes_nothing_and_drops_the_scratch_database(
    packages, bundle_root: Path
) -> None:
    directory = packages.create(
        "roundtrip",
        {
            "0001_initial": migration_source(
                "roundtrip",
                "0001_initial",
                [
                    migrations.RunSQL(
                        "SELECT * FROM a_table_that_does_not_exist",
                        reverse_sql=migrations.RunSQL.noop,
                    ),
                ],
                [],
            ),
        },
    )
    with pytest.raises(
        CommandError,
        match=r"roundtrip\.0001_initial forwards failed on the "
        r"scratch \w+ database: .*a_table_that_does_not_exist",
    ):
        call_command("bundlemigration", "roundtrip", verbosity=0)
    assert not bundle_root.exists()
    assert no_scratch_left()
    assert sorted(p.name for p in directory.iterdir() if p.suffix == ".py") == [
        "0001_initial.py",
        "__init__.py",
    ]


def test_a_failing_bundle_write_removes_the_migration_file(
    shop: Path, bundle_root: Path, monkeypatch
) -> None:
    from migration_studio.management.commands import makesafemigration

    def fail(*args, **kwargs):
        raise makesafemigration.BundleError("Cannot write the bundle: disk full.")

    monkeypatch.setattr(makesafemigration, "write_bundle", fail)
    with pytest.raises(CommandError, match="disk full"):
        call_command("makesafemigration", "shop", verbosity=0)
    assert not (shop / f"{PENDING}.py").exists()
    assert not (bundle_root / "shop" / PENDING).exists()
