"""Bad input: one clear sentence, a non-zero exit, no traceback and nothing half-written."""

from __future__ import annotations

import io
import json
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
    from migration_studio import services
    from migration_studio.exceptions import BundleError

    def fail(*args, **kwargs):
        raise BundleError("Cannot write the bundle: disk full.")

    monkeypatch.setattr(services, "write_bundle", fail)
    with pytest.raises(CommandError, match="disk full"):
        call_command("makesafemigration", "shop", verbosity=0)
    assert not (shop / f"{PENDING}.py").exists()
    assert not (bundle_root / "shop" / PENDING).exists()


# -- read-only directories ---------------------------------------------------------------------


@pytest.fixture
def read_only():
    """Make a directory read-only for this process (root ignores modes: make it immutable)."""
    made: list[Path] = []

    def make(directory: Path) -> Path:
        directory.chmod(0o555)
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(directory)], capture_output=True, check=False)
        made.append(directory)
        try:
            (directory / ".probe").touch()
        except OSError:
            return directory
        (directory / ".probe").unlink()
        pytest.skip("this file system cannot make a directory read-only for this user")

    yield make
    for directory in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(directory)], capture_output=True, check=False)
        directory.chmod(0o755)


def test_read_only_migrations_directory(shop: Path, bundle_root: Path, read_only) -> None:
    before = sorted(p.name for p in shop.iterdir())
    read_only(shop)
    with pytest.raises(
        CommandError,
        match=rf"Cannot write the migration file {re.escape(str(shop / PENDING))}\.py "
        r"\(.+\); nothing was written\.",
    ):
        call_command("makesafemigration", "shop", verbosity=0)
    assert sorted(p.name for p in shop.iterdir()) == before
    assert not bundle_root.exists()
    assert no_scratch_left()


def test_read_only_migrations_directory_from_the_command_line(
    shop: Path, packages, tmp_path: Path, read_only
) -> None:
    read_only(shop)
    result = manage(
        "makesafemigration",
        "shop",
        env={**packages.env(), "MS_TEST_BUNDLE_ROOT": str(tmp_path / "b")},
    )
    assert_clean_failure(result, "CommandError: Cannot write the migration file")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_read_only_bundle_root(shop: Path, tmp_path: Path, settings, read_only) -> None:
    root = tmp_path / "bundles"
    root.mkdir()
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "BUNDLE_ROOT": root}
    read_only(root)
    with pytest.raises(CommandError, match=r"The bundle directory .* is not writable"):
        call_command("bundlemigration", "shop", "0004", verbosity=0)
    with pytest.raises(CommandError, match=r"The bundle directory .* is not writable"):
        call_command("makesafemigration", "shop", verbosity=0)
    assert not (shop / f"{PENDING}.py").exists()
    assert list(root.iterdir()) == []


# -- stats files: checked before any capture work ---------------------------------------------


def stats_file(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "prod-stats.json"
    path.write_text(json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"format": 1, "tables": {"shop_order": {"rows": "many"}}},
            "'rows' of table 'shop_order' must be a whole number, zero or more",
        ),
        ({"format": 1, "tables": []}, "'tables' must map each table name to its sizes"),
        (
            {"format": 1, "tables": {"shop_order": {"table_bytes": 8192}}},
            "table 'shop_order' has no 'rows'",
        ),
        (
            {"format": 1, "tables": {"shop_order": {"rows": -5}}},
            "'rows' of table 'shop_order' must be a whole number, zero or more",
        ),
        (
            {"format": 1, "tables": {"shop_order": {"rowz": 5}}},
            "table 'shop_order' has unknown key(s) rowz",
        ),
        ({"format": 1, "vendor": 5, "tables": {}}, "'vendor' must be a vendor name"),
        ({"format": 3, "tables": {}}, "unsupported format 3 (expected 1 or 2)"),
        (
            {"format": 1, "tables": {"shop_order": {"rows": 5, "indexes": 2}}},
            "table 'shop_order' has unknown key(s) indexes (format 1 has no indexes and "
            "null_fractions)",
        ),
        (
            {"format": 2, "tables": {"shop_order": {"rows": 5, "null_fractions": {"note": 1.5}}}},
            "the NULL fraction of column 'note' of table 'shop_order' must be a number from 0 "
            "to 1, not 1.5",
        ),
        (
            {"format": 2, "tables": {"shop_order": {"rows": 5, "null_fractions": [0.5]}}},
            "'null_fractions' of table 'shop_order' must map each column name to the fraction",
        ),
        (
            {"format": 2, "tables": {"shop_order": {"rows": 5, "indexes": -1}}},
            "'indexes' of table 'shop_order' must be a whole number, zero or more",
        ),
        (["shop_order"], "it must be a JSON object"),
    ],
    ids=[
        "text",
        "list-of-tables",
        "no-rows",
        "negative",
        "unknown-key",
        "vendor",
        "format",
        "format-1-new-key",
        "null-fraction-above-1",
        "null-fractions-list",
        "negative-indexes",
        "list",
    ],
)
def test_bad_stats_values_stop_before_the_capture(
    content, message, shop: Path, bundle_root: Path, tmp_path: Path
) -> None:
    """On the unreachable server, a capture would fail; the stats error comes first."""
    path = stats_file(tmp_path, content)
    expected = re.escape(f"The stats file {path} is not valid: {message}")
    for command in ("makesafemigration", "bundlemigration"):
        args = ["shop"] if command == "makesafemigration" else ["shop", "0004"]
        with pytest.raises(CommandError, match=expected):
            call_command(command, *args, stats_file=str(path), database="unreachable", verbosity=0)
    assert not (shop / f"{PENDING}.py").exists()
    assert not bundle_root.exists()


def test_a_directory_as_stats_file(shop: Path, bundle_root: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=f"The stats file {re.escape(str(tmp_path))} is a dir"):
        call_command("makesafemigration", "shop", stats_file=str(tmp_path), database="unreachable")


def test_bad_stats_value_from_the_command_line(shop: Path, packages, tmp_path: Path) -> None:
    path = stats_file(tmp_path, {"format": 1, "tables": {"shop_order": {"rows": "many"}}})
    result = manage(
        "makesafemigration",
        "shop",
        "--stats-file",
        str(path),
        env={**packages.env(), "MS_TEST_BUNDLE_ROOT": str(tmp_path / "b")},
    )
    assert_clean_failure(result, "'rows' of table 'shop_order' must be a whole number")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (shop / f"{PENDING}.py").exists()


def test_unknown_stats_source_alias_stops_before_the_capture(shop: Path) -> None:
    with pytest.raises(CommandError, match="There is no database 'replica' in DATABASES"):
        call_command("makesafemigration", "shop", stats_from="replica", database="unreachable")


def test_stats_of_another_vendor_are_used_with_a_warning(
    shop: Path, bundle_root: Path, tmp_path: Path, vendor: str
) -> None:
    other = "sqlite" if vendor == "postgresql" else "postgresql"
    path = stats_file(
        tmp_path,
        {
            "format": 1,
            "vendor": other,
            "tables": {"shop_order": {"rows": 3_000_000}, "shop_customer": {"rows": 700_000}},
        },
    )
    err = io.StringIO()
    call_command(
        "bundlemigration", "shop", "0003", stats_file=str(path), stderr=err, stdout=io.StringIO()
    )
    assert (
        f"Warning: The table sizes from file prod-stats.json were read on {other}, but the SQL "
        f"is captured on {vendor}"
    ) in err.getvalue()
    report = json.loads(
        (
            bundle_root / "shop" / "0003_order_status_index_newsletter_opt_in" / "report.json"
        ).read_text()
    )
    assert report["stats_source"] == "file prod-stats.json"
    assert {3_000_000, 700_000} & {f["rows"] for f in report["findings"]}

    quiet = io.StringIO()
    call_command("bundlemigration", "shop", "0003", stats_file=str(path), stderr=quiet, verbosity=0)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize(
    "command",
    [
        ["validatemigration"],
        # 1 would read as "model changes without migrations"
        ["makesafemigration", "--check"],
        ["bundlemigration", "shop"],
        ["exportstats"],
        ["scratchcache"],
    ],
)
def test_a_system_check_error_exits_with_2(tmp_path: Path, command: list[str]) -> None:
    """The command did not start: 2, as for invalid usage, never a result's status (1)."""
    (tmp_path / "bad_settings.py").write_text(
        "from tests.settings import *\nMIGRATION_STUDIO = {'NOPE': 1}\n"
    )
    result = manage(
        *command,
        env={
            "DJANGO_SETTINGS_MODULE": "bad_settings",
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        },
    )
    assert_clean_failure(result, "migration_studio.E002")
    assert result.returncode == 2
