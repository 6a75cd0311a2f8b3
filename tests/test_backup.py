"""``makesafemigration --backup``: a dropped column's values are kept in a backup table, and
rolling the migration back puts them back, byte for byte, with the column's NOT NULL; Django's
state is the plain migration's. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections, migrations, models

from migration_studio.bundle.store import load_bundle
from migration_studio.scratch.database import ScratchDatabase

from .conftest import after_shop_0004, assert_round_trip, make, migrate, written_after

#: The history has two columns the models do not: the autodetector drops them.
EXTRA_COLUMNS = after_shop_0004(
    migrations.AddField("customer", "nickname", models.CharField(max_length=30, default="")),
    migrations.AddField("customer", "points", models.IntegerField(default=0)),
)
PARENT = "0005_extra_columns"
VALUES = [("zoë", 7), ("O'Brien; --", -3), ("", 0), ("émoji 🐘", 2**31 - 1)]


def add_customers(database: ScratchDatabase) -> None:
    """The customers of :data:`VALUES`, at the parent state (with the two extra columns)."""
    with database.activated() as connection, connection.cursor() as cursor:
        for number, (nickname, points) in enumerate(VALUES):
            cursor.execute(
                "INSERT INTO shop_customer (email, name, created_at, newsletter_opt_in, "
                "nickname, points) VALUES (%s, 'N', '2026-01-01 00:00:00', %s, %s, %s)",
                [f"c{number}@example.com", False, nickname, points],
            )


def rows(database: ScratchDatabase) -> list[tuple]:
    with database.activated() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT nickname, points FROM shop_customer ORDER BY id")
        return [tuple(row) for row in cursor.fetchall()]


def tables(database: ScratchDatabase) -> set[str]:
    with database.activated() as connection, connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def test_a_dropped_column_comes_back_with_its_values_on_rollback(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", PARENT, EXTRA_COLUMNS)
    out = make("shop", backup=True, name="drop_extra", interactive=False)
    assert "Backups: dropped column values are copied first into ms_backup_" in out
    bundle = load_bundle(bundle_root / "shop" / "0006_drop_extra")
    kept = [op for op in bundle.operations if op.operation == "SeparateDatabaseAndState"]
    assert len(kept) == 2 and all(op.reversible for op in kept)
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    # The report says the rollback restores the values, and does not count the backup's drop.
    report = json.loads((bundle_root / "shop" / "0006_drop_extra" / "report.json").read_text())
    drops = [f for f in report["findings"] if f["rule"] == "MS152"]
    assert len(drops) == 2
    assert all("rolling back puts them back" in f["message"] for f in drops)
    assert not any(f["data_loss"] for f in drops)
    assert not any("ms_backup_" in f["message"] for f in report["findings"] if f["rule"] == "MS156")
    assert_round_trip(
        bundle_root / "shop" / "0006_drop_extra",
        parent=("shop", PARENT),
        target=("shop", "0006_drop_extra"),
    )
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", PARENT)
        add_customers(database)
        migrate(database, "shop", "0006_drop_extra")
        backups = {t for t in tables(database) if t.startswith("ms_backup_")}
        assert len(backups) == 2
        migrate(database, "shop", PARENT)
        assert rows(database) == VALUES
        assert not {t for t in tables(database) if t.startswith("ms_backup_")}
        with database.activated() as connection, connection.cursor() as cursor:
            columns = connection.introspection.get_table_description(cursor, "shop_customer")
        assert not next(c for c in columns if c.name == "points").null_ok
        assert not next(c for c in columns if c.name == "nickname").null_ok


def test_without_backup_and_without_sizes_the_drop_is_plain(shop, packages, bundle_root) -> None:
    packages.add("shop", PARENT, EXTRA_COLUMNS)
    out = make("shop", name="drop_extra", interactive=False)
    assert "Backups:" not in out
    bundle = load_bundle(bundle_root / "shop" / "0006_drop_extra")
    assert "RemoveField" in {op.operation for op in bundle.operations}
    report = json.loads((bundle_root / "shop" / "0006_drop_extra" / "report.json").read_text())
    drops = [f for f in report["findings"] if f["rule"] == "MS152"]
    assert drops and all(f["data_loss"] for f in drops)


def test_migrationbackups_lists_the_backups_and_purges_only_when_told(
    shop, packages, bundle_root
) -> None:
    from django.core.management.base import CommandError

    packages.add("shop", PARENT, EXTRA_COLUMNS)
    make("shop", backup=True, name="drop_extra", interactive=False)

    def run(*args: str) -> str:
        out = StringIO()
        call_command("migrationbackups", *args, stdout=out, stderr=StringIO())
        return out.getvalue()

    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", PARENT)
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_customer (email, name, created_at, newsletter_opt_in, "
                "nickname, points) VALUES ('a@b', 'N', '2026-01-01 00:00:00', %s, 'x', 1)",
                [False],
            )
        migrate(database, "shop", "0006_drop_extra")
        with database.activated():
            listed = run()
            assert listed.count("ms_backup_") == 2 and "1 row(s)  backed up" in listed
            with pytest.raises(CommandError, match="--purge needs --older-than"):
                run("--purge")
            assert "Dropped 0 backup table(s)" in run("--purge", "--older-than", "1")
            assert len({t for t in tables(database) if t.startswith("ms_backup_")}) == 2
            assert "Dropped 2 backup table(s)" in run("--purge", "--older-than", "0")
            assert "No backup table" in run()


def test_backup_is_on_by_default_for_a_table_the_sizes_say_has_rows(
    shop, packages, bundle_root, tmp_path
) -> None:
    from migration_studio.risk.stats import Stats, TableStats, write_file

    packages.add("shop", PARENT, EXTRA_COLUMNS)
    sizes = tmp_path / "sizes.json"
    write_file(Stats(tables={"shop_customer": TableStats(rows=120_000)}, source="test"), sizes)
    out = make("shop", name="drop_extra", interactive=False, stats_file=str(sizes))
    assert "Backups: dropped column values are copied first into ms_backup_" in out
    empty = tmp_path / "empty.json"
    write_file(Stats(tables={"shop_customer": TableStats(rows=0)}, source="test"), empty)
    (shop / "0006_drop_extra.py").unlink()
    out = make("shop", name="drop_extra", interactive=False, stats_file=str(empty))
    assert "Backups:" not in out


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="--safe rewrites PostgreSQL's SQL"
)
def test_with_safe_the_column_leaves_the_state_first_and_is_dropped_in_a_later_migration(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", PARENT, EXTRA_COLUMNS)
    make("shop", safe=True, backup=True, name="drop_extra", interactive=False)
    names = written_after(shop, "0005")
    assert names == ["0006_drop_extra", "0007_drop_extra_indexes", "0008_drop_extra_drop_later"]
    first, later = (load_bundle(bundle_root / "shop" / name) for name in names[::2])
    first_sql = " ".join(sql for op in first.operations for sql in op.forward_sql)
    assert "DROP COLUMN" not in first_sql and 'ALTER COLUMN "points" DROP NOT NULL' in first_sql
    later_sql = [sql for op in later.operations for sql in op.forward_sql]
    assert any(sql.startswith('CREATE TABLE "ms_backup_') for sql in later_sql)
    assert 'ALTER TABLE "shop_customer" DROP COLUMN "points" CASCADE;' in later_sql
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    assert "0008_drop_extra_drop_later drops them" in " ".join(
        (shop / "0006_drop_extra.py").read_text().split()
    )
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", PARENT)
        add_customers(database)
        migrate(database, "shop", names[0])
        # The state no longer has the columns; the table still does, and new rows go in.
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_customer (email, name, created_at, newsletter_opt_in) "
                "VALUES ('new@example.com', 'N', now(), false)"
            )
            cursor.execute("DELETE FROM shop_customer WHERE email = 'new@example.com'")
        assert rows(database) == VALUES
        migrate(database, "shop", names[-1])
        migrate(database, "shop", PARENT)
        assert rows(database) == VALUES
        assert not {t for t in tables(database) if t.startswith("ms_backup_")}


#: The history has a model the models do not: the autodetector deletes it.
EXTRA_MODEL = after_shop_0004(
    migrations.CreateModel(
        "Coupon",
        [
            ("id", models.BigAutoField(primary_key=True)),
            ("code", models.CharField(max_length=20, unique=True)),
            ("percent", models.IntegerField()),
        ],
    ),
)
COUPONS = [(1, "WELCOME", 10), (2, "Ünïcode €", 15), (7, "x'; DROP", 99)]


def coupons(database: ScratchDatabase) -> list[tuple]:
    with database.activated() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, code, percent FROM shop_coupon ORDER BY id")
        return [tuple(row) for row in cursor.fetchall()]


def test_a_dropped_table_comes_back_with_its_rows_on_rollback(
    shop, packages, bundle_root, vendor
) -> None:
    packages.add("shop", "0005_coupon", EXTRA_MODEL)
    safe = vendor == "postgresql"
    make("shop", backup=True, safe=safe, name="no_coupon", interactive=False)
    names = written_after(shop, "0005")
    assert names == (
        ["0006_no_coupon", "0007_no_coupon_indexes", "0008_no_coupon_drop_later"]
        if safe
        else ["0006_no_coupon"]
    )
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    report = json.loads((bundle_root / "shop" / names[-1] / "report.json").read_text())
    [dropped] = [f for f in report["findings"] if f["rule"] == "MS153"]
    assert "rolling back creates it again and puts them back" in dropped["message"]
    assert not dropped["data_loss"]
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_coupon")
        with database.activated() as connection, connection.cursor() as cursor:
            for row in COUPONS:
                cursor.execute(
                    "INSERT INTO shop_coupon (id, code, percent) VALUES (%s, %s, %s)", row
                )
        if safe:
            migrate(database, "shop", names[0])
            assert "shop_coupon" in tables(database)  # the state let go, the table stays
        migrate(database, "shop", names[-1])
        assert "shop_coupon" not in tables(database)
        migrate(database, "shop", "0005_coupon")
        assert coupons(database) == COUPONS
        # New rows get ids after the ones put back.
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute("INSERT INTO shop_coupon (code, percent) VALUES ('NEW', 1)")
        assert coupons(database)[-1][0] > 7
        assert not {t for t in tables(database) if t.startswith("ms_backup_")}


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="--safe rewrites PostgreSQL's SQL"
)
def test_without_safe_the_output_says_drops_would_take_two_phases(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", PARENT, EXTRA_COLUMNS)
    out = make("shop", name="drop_extra", interactive=False)
    assert "column shop.Customer.points: leaves the state first, dropped by a later" in out
