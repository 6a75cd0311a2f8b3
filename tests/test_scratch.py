"""Scratch databases: the tool's own, dropped after success, failure and interrupts; the cache."""

from __future__ import annotations

import io
import os
import signal
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from migration_studio.exceptions import ScratchError
from migration_studio.scratch.database import (
    SCRATCH_PREFIX,
    ScratchDatabase,
    leftover_scratch_databases,
)

from .conftest import assert_interrupted, interrupted, no_scratch_left, slow_migration

SLOW_MIGRATION = """
import os, time
from django.db import migrations, models


def wait(apps, schema_editor):
    open(os.environ["MS_TEST_MARKER"], "w").close()
    time.sleep(60)


class Migration(migrations.Migration):
    operations = [
        migrations.CreateModel("Thing", [("id", models.BigAutoField(primary_key=True))]),
        migrations.RunPython(wait, migrations.RunPython.noop),
    ]
"""


def test_scratch_database_is_created_then_dropped() -> None:
    with ScratchDatabase("default", use_cache=False) as scratch:
        scratch.create()
        name = scratch.name
        assert Path(name).name.startswith(SCRATCH_PREFIX)
        assert any(name in entry for entry in leftover_scratch_databases("default"))
        with scratch.activated() as connection:
            assert connections["default"] is connection
            with connection.cursor() as cursor:
                cursor.execute("CREATE TABLE probe (id integer)")
        assert connections["default"] is not scratch.connection
    assert no_scratch_left()


def test_scratch_database_is_dropped_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), ScratchDatabase("default", use_cache=False) as scratch:
        scratch.create()
        raise RuntimeError("boom")
    assert no_scratch_left()


def test_refuses_to_drop_a_database_it_did_not_create() -> None:
    scratch = ScratchDatabase("default", use_cache=False)
    scratch.name = "production"
    with pytest.raises(ScratchError, match="Refusing to drop production"):
        scratch.drop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_drops_the_scratch_database(signum, packages, tmp_path: Path) -> None:
    packages.create("roundtrip", {"0001_initial": SLOW_MIGRATION})
    marker = tmp_path / "running"
    env = {
        **os.environ,
        **packages.env(),
        "MS_TEST_MARKER": str(marker),
        "MS_TEST_BUNDLE_ROOT": str(tmp_path / "bundles"),
    }
    process = interrupted(["bundlemigration", "roundtrip", "--no-cache"], env, marker, signum)
    assert_interrupted(process, "Interrupted; scratch database dropped; nothing was written.")
    assert no_scratch_left(pid=process.pid)
    assert not (tmp_path / "bundles").exists()


def test_interrupted_makesafemigration_writes_nothing(packages, shop, tmp_path: Path) -> None:
    """Interrupted while the parent state is built: no migration file, no bundle, exit 130."""
    packages.add("shop", "0005_slow", slow_migration(("shop", "0004_orderitem_constraints")))
    before = sorted(p.name for p in shop.iterdir())
    marker = tmp_path / "running"
    env = {
        **os.environ,
        **packages.env(),
        "MS_TEST_MARKER": str(marker),
        "MS_TEST_BUNDLE_ROOT": str(tmp_path / "bundles"),
    }
    process = interrupted(["makesafemigration", "shop", "--no-cache"], env, marker)
    assert_interrupted(process, "Interrupted; scratch database dropped; nothing was written.")
    assert no_scratch_left(pid=process.pid)
    assert sorted(p.name for p in shop.iterdir()) == before
    assert not (tmp_path / "bundles").exists()


def origin_of(*args: str, **options) -> str:
    out = io.StringIO()
    call_command(*args, verbosity=2, stdout=out, no_color=True, **options)
    return next(line for line in out.getvalue().splitlines() if "Scratch database:" in line)


def test_warm_runs_reuse_the_cached_state(shop, bundle_root, tmp_path, settings, vendor) -> None:
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "CACHE_DIR": tmp_path / "cache"}
    drop_caches()
    assert "built from nothing" in origin_of("makesafemigration", "shop", dry_run=True)
    assert len(cached_states()) == 1

    warm = origin_of("makesafemigration", "shop", dry_run=True)

    assert "Scratch database: cached state" in warm
    assert len(cached_states()) == 1
    if vendor == "postgresql":
        assert "used in place, changes rolled back" in warm
    assert no_scratch_left()


def test_a_cached_state_used_in_place_is_left_unchanged(
    shop, bundle_root, tmp_path, settings, vendor
) -> None:
    if vendor != "postgresql":
        pytest.skip("SQLite copies the cached file; only PostgreSQL uses a cached state in place")
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "CACHE_DIR": tmp_path / "cache"}
    drop_caches()
    call_command("makesafemigration", "shop", dry_run=True, verbosity=0)
    [cached] = cached_states()
    before = schema_of_database(cached)
    call_command("makesafemigration", "shop", verbosity=0)
    assert schema_of_database(cached) == before
    assert "discount" not in str(before["shop_order"]["columns"])


def test_a_new_migration_starts_from_the_closest_cached_state(
    shop, packages, bundle_root, tmp_path, settings
) -> None:
    """Once migrations land, the next run builds on the cached state instead of from nothing."""
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "CACHE_DIR": tmp_path / "cache"}
    drop_caches()
    call_command("makesafemigration", "shop", name="contact", verbosity=0)  # 0005 lands
    packages.add("shop", "0006_note", NOTE)  # and a hand-written 0006 (the models lack "note")

    origin = origin_of("makesafemigration", "shop", name="drop_note")

    assert "closest cached state" in origin and "plus 2 migration(s)" in origin
    assert len(cached_states()) == 2
    up_sql = (bundle_root / "shop" / "0007_drop_note" / "up.sql").read_text()
    assert 'DROP COLUMN "note"' in up_sql


def test_a_changed_migration_file_never_reuses_a_stale_state(
    shop, bundle_root, tmp_path, settings
) -> None:
    """Editing a migration in the history changes the key: the old cached state is not used."""
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "CACHE_DIR": tmp_path / "cache"}
    drop_caches()
    call_command("makesafemigration", "shop", dry_run=True, verbosity=0)
    first = cached_states()

    # The history now also creates customer.legacy_code, which the models lack, so the next
    # migration drops it. On a stale state (no such column) the capture would fail.
    history = shop / "0004_orderitem_constraints.py"
    addition = (
        "        migrations.AddField(model_name='customer', name='legacy_code', field="
        "models.CharField(max_length=10, null=True)),\n"
    )
    history.write_text(
        history.read_text().replace("    operations = [\n", "    operations = [\n" + addition, 1)
    )
    for module in [m for m in sys.modules if m.endswith("0004_orderitem_constraints")]:
        del sys.modules[module]

    call_command("makesafemigration", "shop", verbosity=0)

    assert len(cached_states()) == 2 and set(first) < set(cached_states())
    up_sql = next((bundle_root / "shop").glob("0005_*/up.sql")).read_text()
    assert 'DROP COLUMN "legacy_code"' in up_sql


NOTE = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0005_contact")]
    operations = [migrations.AddField("order", "note", models.TextField(null=True))]
"""


def schema_of_database(name: str) -> dict:
    from migration_studio.scratch.backends.base import wrapper as _wrapper
    from migration_studio.validation.schema import snapshot

    settings_dict = {**connections["default"].settings_dict, "NAME": name}
    connection = _wrapper(settings_dict, "cache_probe")
    try:
        return snapshot(connection)
    finally:
        connection.close()


def cached_states() -> list[str]:
    """This project's cached states (the test settings' project tag), oldest first."""
    scratch = ScratchDatabase("default")
    try:
        return sorted(scratch.vendor.cached_names(scratch.cache_prefix))
    finally:
        scratch.vendor.close()


def drop_caches() -> None:
    scratch = ScratchDatabase("default")
    try:
        for name in scratch.vendor.cached_names(scratch.cache_prefix):
            scratch.vendor.drop_cached(name)
    finally:
        scratch.vendor.close()
