"""``makesafemigration --safe``: the version of a migration that keeps its tables writable, with
Django's state unchanged; on PostgreSQL index builds and drops run CONCURRENTLY in migrations of
their own, and SQLite says it makes none of these (renames: tests/test_safe_renames.py)."""

from __future__ import annotations

import contextlib
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, migrations, models

from migration_studio.bundle.store import load_bundle
from migration_studio.scratch.database import ScratchDatabase

from .conftest import (
    SHOP_MIGRATIONS,
    after_shop_0004,
    assert_round_trip,
    assert_same_schema,
    make,
    migrate,
    schema_of,
    written_after,
)

#: The history drops the order index the models have and adds one they do not: the autodetector
#: builds the first again and drops the second.
SWAP_INDEXES = after_shop_0004(
    migrations.RemoveIndex("order", "shop_order_status_created_idx"),
    migrations.AddIndex(
        "customer", models.Index(fields=["email", "name"], name="shop_customer_extra_idx")
    ),
)
PARENT = "0005_swap_indexes"


def changes(bundle) -> list:
    """The bundle's operations but the lock_timeout settings --safe adds around them."""
    return [
        op
        for op in bundle.operations
        if not (
            op.operation == "RunSQL"
            and all(sql.startswith(("SET ", "RESET ")) for sql in op.forward_sql)
        )
    ]


def validate_all() -> str:
    """``validatemigration shop``: every bundle of the app proven on a scratch database."""
    call_command("migrate", "migration_studio", verbosity=0)
    out, err = StringIO(), StringIO()
    with contextlib.suppress(SystemExit):  # a failed validation: the output says which
        call_command("validatemigration", "shop", stdout=out, stderr=err, no_color=True)
    return out.getvalue() + err.getvalue()


postgresql_only = pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="CONCURRENTLY is PostgreSQL's"
)


@postgresql_only
def test_index_builds_and_drops_run_concurrently_in_migrations_of_their_own(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", PARENT, SWAP_INDEXES)
    make("shop", safe=True, name="restore", interactive=False)
    names = written_after(shop, "0005")
    assert names == ["0006_restore_drop_indexes", "0007_restore", "0008_restore_indexes"]
    drop, main, build = (load_bundle(bundle_root / "shop" / name) for name in names)
    assert not drop.atomic and not build.atomic and main.atomic
    assert [op.operation for op in changes(drop)] == ["RemoveIndexConcurrently"]
    assert changes(drop)[0].forward_sql == [
        'DROP INDEX CONCURRENTLY IF EXISTS "shop_customer_extra_idx";'
    ]
    # The models' pending db_index=True on Product.name is built CONCURRENTLY there too.
    assert [op.operation for op in changes(build)] == [
        "AddIndexConcurrently",
        "SeparateDatabaseAndState",
    ]
    assert all(
        sql.startswith('CREATE INDEX CONCURRENTLY "shop_product_name_')
        for sql in changes(build)[1].forward_sql
    )
    assert (
        changes(build)[0]
        .forward_sql[0]
        .startswith('CREATE INDEX CONCURRENTLY "shop_order_status_created_idx"')
    )
    assert "Index" not in " ".join(op.operation for op in changes(main))
    # Every rewritten migration runs with SAFE_LOCK_TIMEOUT (2 s): SET LOCAL in a transaction,
    # SET ... RESET around a migration that is not atomic.
    assert drop.operations[0].forward_sql == ["SET lock_timeout = '2000ms';"]
    assert drop.operations[-1].forward_sql == ["RESET lock_timeout;"]
    assert main.operations[0].forward_sql == ["SET LOCAL lock_timeout = '2000ms';"]
    up = (bundle_root / "shop" / names[2] / "up.sql").read_text()
    assert "BEGIN;" not in up  # never wrapped in a transaction
    # The index built concurrently blocks no writes: no MS131 about it in any bundle.
    for name in names:
        report = json.loads((bundle_root / "shop" / name / "report.json").read_text())
        blocking = [f["message"] for f in report["findings"] if f["rule"] == "MS131"]
        assert not any("shop_order_status_created_idx" in m for m in blocking), name
        # ... and none says a strong lock has no lock_timeout (MS103), nor flags the settings.
        assert "MS103" not in {f["rule"] for f in report["findings"]}, name
        assert not any("lock_timeout" in " ".join(f["statements"]) for f in report["findings"])
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


def test_sqlite_makes_no_lock_rewrite_and_says_so(shop, packages, bundle_root) -> None:
    if connections["default"].vendor != "sqlite":
        pytest.skip("the SQLite answer")
    packages.add("shop", PARENT, SWAP_INDEXES)
    out = make("shop", safe=True, name="restore", interactive=False)
    assert (
        "--safe on sqlite: the rewrites that avoid locks (CREATE INDEX CONCURRENTLY, constraints "
        "added NOT VALID ...) are PostgreSQL's and are not made; renamed fields and models still "
        "keep their column or table names."
    ) in out
    assert written_after(shop, "0005") == ["0006_restore"]


#: The history drops the CHECK the models have: the autodetector adds it back.
DROP_CHECK = after_shop_0004(
    migrations.RemoveConstraint("orderitem", "shop_orderitem_quantity_positive"),
)


@postgresql_only
def test_a_check_is_added_not_valid_and_validated_in_the_next_migration(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", "0005_drop_check", DROP_CHECK)
    make("shop", safe=True, name="restore", interactive=False)
    names = written_after(shop, "0005")
    # (0008 builds the index the models' Product.name has gained, CONCURRENTLY.)
    assert names == ["0006_restore", "0007_restore_validate", "0008_restore_indexes"]
    main, validate = (load_bundle(bundle_root / "shop" / name) for name in names[:2])
    add = next(op for op in main.operations if "shop_orderitem" in " ".join(op.forward_sql))
    assert add.operation == "SeparateDatabaseAndState"
    assert add.forward_sql[-1].endswith("NOT VALID;")
    assert "shop_orderitem_quantity_positive" in add.forward_sql[-1]
    assert changes(validate)[0].forward_sql == [
        'ALTER TABLE "shop_orderitem" VALIDATE CONSTRAINT "shop_orderitem_quantity_positive";'
    ]
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    validated = validate_all()
    assert validated.count(": passed") == len(names), validated
    assert_round_trip(
        bundle_root / "shop" / names[0],
        parent=("shop", "0005_drop_check"),
        target=("shop", names[0]),
    )
    # A row that breaks the constraint: adding it NOT VALID works, validating it fails.
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_drop_check")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_customer (email, name, created_at, newsletter_opt_in) "
                "VALUES ('a@b', 'A', now(), false) RETURNING id"
            )
            customer = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO shop_order (status, created_at, total, customer_id) "
                "VALUES ('new', now(), 1, %s) RETURNING id",
                [customer],
            )
            order = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO shop_product (sku, name, price, stock, active) "
                "VALUES ('s', 'p', 1, 0, true) RETURNING id"
            )
            product = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO shop_orderitem (order_id, product_id, quantity, unit_price) "
                "VALUES (%s, %s, 0, 1)",
                [order, product],
            )
        migrate(database, "shop", names[0])
        with pytest.raises(Exception, match="shop_orderitem_quantity_positive"):
            migrate(database, "shop", names[1])


#: The history drops the unique constraint the models have: the autodetector adds it back.
DROP_UNIQUE = after_shop_0004(
    migrations.RemoveConstraint("orderitem", "shop_orderitem_unique_product_per_order"),
)


@postgresql_only
def test_a_unique_constraint_is_built_concurrently_then_added_using_its_index(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", "0005_drop_unique", DROP_UNIQUE)
    make("shop", safe=True, name="restore", interactive=False)
    names = written_after(shop, "0005")
    assert names == ["0006_restore_unique", "0007_restore", "0008_restore_indexes"]
    index = load_bundle(bundle_root / "shop" / names[0])
    assert not index.atomic
    # The unique index built CONCURRENTLY, then made the constraint: no scan under a lock.
    assert changes(index)[0].forward_sql == [
        'CREATE UNIQUE INDEX CONCURRENTLY "shop_orderitem_unique_product_per_order" ON '
        '"shop_orderitem" ("order_id", "product_id");',
        'ALTER TABLE "shop_orderitem" ADD CONSTRAINT "shop_orderitem_unique_product_per_order" '
        'UNIQUE USING INDEX "shop_orderitem_unique_product_per_order";',
    ]
    assert changes(index)[0].operation == "SeparateDatabaseAndState"
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    validated = validate_all()
    assert validated.count(": passed") == len(names), validated
    # The schema is the plain migration's, and the rollback gives the parent back.
    assert_round_trip(
        bundle_root / "shop" / names[0],
        parent=("shop", "0005_drop_unique"),
        target=("shop", names[0]),
    )
    with ScratchDatabase("default", use_cache=False) as by_safe:
        by_safe.create()
        migrate(by_safe, "shop", names[-1])
        with by_safe.activated() as connection, connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "shop_orderitem")
            cursor.execute(
                "SELECT contype FROM pg_constraint WHERE conname = %s",
                ["shop_orderitem_unique_product_per_order"],
            )
            kind = cursor.fetchone()
        # What the plain AddConstraint makes: a unique constraint, not only an index.
        made = constraints["shop_orderitem_unique_product_per_order"]
        assert made["unique"] and made["columns"] == ["order_id", "product_id"]
        assert kind == ("u",)
        migrate(by_safe, "shop", "0005_drop_unique")
        with by_safe.activated() as connection, connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "shop_orderitem")
        assert "shop_orderitem_unique_product_per_order" not in constraints


@postgresql_only
def test_without_safe_the_output_says_what_safe_would_rewrite(shop, packages, bundle_root) -> None:
    packages.add("shop", PARENT, SWAP_INDEXES)
    out = make("shop", name="plain", interactive=False)
    assert "With --safe:" in out
    assert "index shop_order_status_created_idx on shop.Order: built CONCURRENTLY" in out
    assert "index shop_customer_extra_idx on shop.Customer: dropped CONCURRENTLY" in out
    assert written_after(shop, "0005") == ["0006_plain"]


#: The history drops customer.name; the models have it (NOT NULL, no default).
DROP_NAME = after_shop_0004(
    migrations.RemoveField("customer", "name"),
)


@postgresql_only
def test_the_not_null_step_of_the_plan_checks_first_and_sets_not_null_without_a_scan(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", "0005_drop_name", DROP_NAME)
    make("shop", safe=True, name="restore", interactive=False)
    names = written_after(shop, "0005")
    assert names == [
        "0006_restore",
        "0007_restore_indexes",
        "0008_backfill_customer_name",
        "0009_customer_name_not_null",
        "0010_customer_name_not_null_validate",
    ]
    check, validate = (load_bundle(bundle_root / "shop" / name) for name in names[3:])
    add = next(op for op in changes(check) if op.operation == "SeparateDatabaseAndState")
    assert add.forward_sql == [
        'ALTER TABLE "shop_customer" ADD CONSTRAINT "shop_customer_name_not_null" '
        'CHECK ("name" IS NOT NULL) NOT VALID;'
    ]
    assert [op.forward_sql for op in changes(validate)] == [
        ['ALTER TABLE "shop_customer" VALIDATE CONSTRAINT "shop_customer_name_not_null";'],
        ['ALTER TABLE "shop_customer" ALTER COLUMN "name" SET NOT NULL;'],
        ['ALTER TABLE "shop_customer" DROP CONSTRAINT "shop_customer_name_not_null";'],
    ]
    # The check validated just before proves the column set: no scan reported (MS121).
    report = json.loads((bundle_root / "shop" / names[4] / "report.json").read_text())
    assert "MS121" not in {f["rule"] for f in report["findings"]}
    readme = (bundle_root / "shop" / names[3] / "README.md").read_text()
    assert "Stage 3 of expand / backfill / contract" in readme and "NOT VALID" in readme
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    validated = validate_all()
    assert validated.count(": passed") == len(names), validated
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_drop_name")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_customer (email, created_at, newsletter_opt_in) "
                "VALUES ('a@b', now(), false)"
            )
        migrate(database, "shop", names[-1])
        with database.activated() as connection, connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "shop_customer")
            columns = connection.introspection.get_table_description(cursor, "shop_customer")
            cursor.execute("SELECT name FROM shop_customer")
            assert cursor.fetchall() == [("",)]
        assert "shop_customer_name_not_null" not in constraints
        assert not next(c for c in columns if c.name == "name").null_ok
        migrate(database, "shop", "0005_drop_name")


#: The history drops order.customer, a NOT NULL foreign key: the plan adds it back, nullable
#: first; --safe adds its constraint NOT VALID and builds its index CONCURRENTLY.
DROP_CUSTOMER = after_shop_0004(
    migrations.RemoveField("order", "customer"),
)


@postgresql_only
def test_a_foreign_key_is_added_not_valid_validated_next_and_indexed_concurrently(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", "0005_drop_customer", DROP_CUSTOMER)
    make("shop", safe=True, name="restore", interactive=False)
    names = written_after(shop, "0005")
    assert names == [
        "0006_restore",
        "0007_restore_validate",
        "0008_restore_indexes",
        "0009_backfill_order_customer",
        "0010_order_customer_not_null",
        "0011_order_customer_not_null_validate",
    ]
    expand, validate, indexes = (load_bundle(bundle_root / "shop" / n) for n in names[:3])
    add = next(op for op in changes(expand) if op.operation == "SeparateDatabaseAndState")
    assert add.forward_sql[0] == 'ALTER TABLE "shop_order" ADD COLUMN "customer_id" bigint NULL;'
    assert add.forward_sql[-1].endswith("DEFERRABLE INITIALLY DEFERRED NOT VALID;")
    assert "REFERENCES" not in add.forward_sql[0] and "CREATE INDEX" not in " ".join(
        add.forward_sql
    )
    assert (
        changes(validate)[0]
        .forward_sql[0]
        .startswith('ALTER TABLE "shop_order" VALIDATE CONSTRAINT "shop_order_customer_id_')
    )
    assert not indexes.atomic
    assert (
        changes(indexes)[0]
        .forward_sql[0]
        .startswith('CREATE INDEX CONCURRENTLY "shop_order_customer_id_')
    )
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    validated = validate_all()
    assert validated.count(": passed") == len(names), validated
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_drop_customer")
        migrate(database, "shop", names[-1])  # no rows: the undecided value is never needed
        with database.activated() as connection, connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "shop_order")
        on_customer = [c for c in constraints.values() if c["columns"] == ["customer_id"]]
        assert any(c["foreign_key"] == ("shop_customer", "id") for c in on_customer)
        assert any(c["index"] and not c["unique"] for c in on_customer)
        migrate(database, "shop", "0005_drop_customer")


def test_safe_false_means_off_whatever_the_setting(shop, packages, bundle_root, settings) -> None:
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "SAFE_REWRITES": True}
    packages.add("shop", PARENT, SWAP_INDEXES)
    make("shop", safe=False, name="plain", interactive=False)
    assert written_after(shop, "0005") == ["0006_plain"]


#: The history drops order.customer (the plan adds it back) and has a column the models do not
#: (dropped in two phases).
DROP_AND_EXTRA = after_shop_0004(
    migrations.RemoveField("order", "customer"),
    migrations.AddField("customer", "points", models.IntegerField(default=0)),
)


@postgresql_only
def test_the_drop_comes_after_the_whole_plan(shop, packages, bundle_root) -> None:
    packages.add("shop", "0005_history", DROP_AND_EXTRA)
    make("shop", safe=True, name="v2", interactive=False)
    names = written_after(shop, "0005")
    assert names[-1].endswith("_drop_later") and len(names) > 2
    assert "not_null_validate" in names[-2]
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    validated = validate_all()
    assert validated.count(": passed") == len(names), validated


@postgresql_only
def test_a_new_not_null_column_keeps_its_default_and_a_new_index_is_built_concurrently(
    shop, packages, bundle_root
) -> None:
    # The example's pending changes: Order.discount (NOT NULL, default 0) and Product.name's
    # db_index=True.
    call_command("migrate", "migration_studio", verbosity=0)
    out = make("shop", safe=True, name="v2", interactive=False)
    names = written_after(shop, "0004")
    assert names == ["0005_v2", "0006_v2_indexes"]
    assert "Migrations for 'shop' (makesafemigration --safe):" in out
    assert "Expand / backfill / contract" not in out
    main, build = (load_bundle(bundle_root / "shop" / name) for name in names)
    main_sql = [sql for op in changes(main) for sql in op.forward_sql]
    assert 'ALTER TABLE "shop_order" ADD COLUMN "discount" numeric(12, 2) DEFAULT 0 NOT NULL;' in (
        main_sql
    )
    assert not any("DROP DEFAULT" in sql for sql in main_sql)
    assert not build.atomic
    assert [sql.split(" ON ")[0] for op in changes(build) for sql in op.forward_sql] == [
        'CREATE INDEX CONCURRENTLY "shop_product_name_b8d5e94c"',
        'CREATE INDEX CONCURRENTLY "shop_product_name_b8d5e94c_like"',
    ]
    assert "default kept in the database" in (shop / "0005_v2.py").read_text()
    # The old code's INSERTs keep working: no MS151 on the column.
    report = json.loads((bundle_root / "shop" / names[0] / "report.json").read_text())
    assert "MS151" not in {f["rule"] for f in report["findings"]}, report["findings"]
    report = json.loads((bundle_root / "shop" / names[1] / "report.json").read_text())
    assert not [
        f["rule"] for f in report["findings"] if f["blocks_writes"] and f["direction"] == "forward"
    ]
    assert "makesafemigration --safe" in (bundle_root / "shop" / names[1] / "README.md").read_text()
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    previous = ("shop", "0004_orderitem_constraints")
    for name in names:
        assert_round_trip(bundle_root / "shop" / name, parent=previous, target=("shop", name))
        previous = ("shop", name)
    out = StringIO()
    call_command("validatemigration", "shop", stdout=out, stderr=StringIO(), no_color=True)
    assert out.getvalue().count(": passed") == 2, out.getvalue()
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", names[-1])
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_customer (email, name, created_at, newsletter_opt_in) "
                "VALUES ('a@example.com', 'A', now(), false) RETURNING id"
            )
            [customer] = cursor.fetchone()
            # The code still running does not know discount: its INSERT keeps working.
            old_insert = (
                "INSERT INTO shop_order (customer_id, status, created_at, total) "
                "VALUES (%s, 'paid', now(), 10) RETURNING discount"
            )
            cursor.execute(old_insert, [customer])
            assert cursor.fetchone() == (0,)
            # Django's plain migration drops the default: the same INSERT then fails.
            cursor.execute('ALTER TABLE "shop_order" ALTER COLUMN "discount" DROP DEFAULT')
            with pytest.raises(Exception, match="discount"):
                cursor.execute(old_insert, [customer])


#: The history makes Customer.email not unique; the models say unique=True.
NOT_UNIQUE_EMAIL = after_shop_0004(
    migrations.AlterField("customer", "email", models.EmailField(max_length=254)),
)


@postgresql_only
def test_a_field_made_unique_gets_its_index_concurrently_then_the_constraint_using_it(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", "0005_email", NOT_UNIQUE_EMAIL)
    make("shop", safe=True, name="unique_email", interactive=False)
    names = written_after(shop, "0005")
    assert names == ["0006_unique_email", "0007_unique_email_indexes"]
    build = load_bundle(bundle_root / "shop" / names[1])
    email = next(op for op in changes(build) if "shop_customer" in " ".join(op.forward_sql))
    [unique, using, like] = email.forward_sql
    assert unique.startswith('CREATE UNIQUE INDEX CONCURRENTLY "shop_customer_email_')
    assert using.startswith('ALTER TABLE "shop_customer" ADD CONSTRAINT "shop_customer_email_')
    assert using.endswith('_uniq";') and "UNIQUE USING INDEX" in using
    assert like.startswith('CREATE INDEX CONCURRENTLY "shop_customer_email_') and "_like" in like
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    validated = validate_all()
    assert validated.count(": passed") == len(names), validated
    assert_round_trip(
        bundle_root / "shop" / names[1], parent=("shop", names[0]), target=("shop", names[1])
    )
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", names[-1])
        with database.activated() as connection, connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "shop_customer")
        on_email = [c for c in constraints.values() if c["columns"] == ["email"]]
        assert any(c["unique"] and not c["index"] for c in on_email)  # a constraint
        migrate(database, "shop", names[0])
        with database.activated() as connection, connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "shop_customer")
        assert not [c for c in constraints.values() if c["columns"] == ["email"]]


@postgresql_only
def test_without_safe_the_output_names_the_default_and_the_index(
    shop, packages, bundle_root
) -> None:
    out = make("shop", name="plain", interactive=False)
    assert "index of shop.Product.name: built CONCURRENTLY" in out
    kept = (
        "default of the new column shop.Order.discount: kept in the database, so the INSERTs "
        "of the code still running keep working"
    )
    assert kept in " ".join(out.split())
    # The report says which findings --safe takes away, and only those.
    report = json.loads((bundle_root / "shop" / "0005_plain" / "report.json").read_text())
    fixed = {(f["rule"], f["safe_rewrite"]) for f in report["findings"] if f["safe_rewrite"]}
    assert ("MS151", kept) in fixed
    builds = [f for f in report["findings"] if f["rule"] == "MS131"]
    assert len(builds) == 2  # the index and its _like twin
    assert {f["safe_rewrite"] for f in builds} == {"index of shop.Product.name: built CONCURRENTLY"}
    assert not [f for f in report["findings"] if f["direction"] == "reverse" and f["safe_rewrite"]]
    readme = (bundle_root / "shop" / "0005_plain" / "README.md").read_text()
    assert "`makesafemigration --safe` takes it away: index of shop.Product.name" in readme


#: The history has Product.stock nullable; the models make it NOT NULL with default 0.
NULLABLE_STOCK = after_shop_0004(
    migrations.AlterField("product", "stock", models.PositiveIntegerField(default=0, null=True)),
)


#: The history drops Customer.email (unique, NOT NULL): the plan adds it back nullable, unique.
DROP_EMAIL = after_shop_0004(
    migrations.RemoveField("customer", "email"),
)


#: The history drops Customer.created_at (auto_now_add): the autodetector adds it back.
DROP_CREATED = after_shop_0004(
    migrations.RemoveField("customer", "created_at"),
)


#: Each history gives the autodetector something --safe rewrites (besides the example's pending
#: changes: a new NOT NULL column with a default, a field gaining db_index).
HISTORIES = {
    "indexes": (PARENT, SWAP_INDEXES),
    "check": ("0005_drop_check", DROP_CHECK),
    "unique constraint": ("0005_drop_unique", DROP_UNIQUE),
    "unique field": ("0005_email", NOT_UNIQUE_EMAIL),
    "foreign key and NOT NULL": ("0005_drop_customer", DROP_CUSTOMER),
    "set NOT NULL": ("0005_drop_name", DROP_NAME),
    "drops": ("0005_history", DROP_AND_EXTRA),
    "new unique column": ("0005_drop_email", DROP_EMAIL),
    "NOT NULL with a default": ("0005_nullable_stock", NULLABLE_STOCK),
}
#: Columns whose default --safe keeps in the database, where the plain migration drops it.
KEPT_DEFAULTS = {"NOT NULL with a default": [("shop_product", "stock")]}


@postgresql_only
@pytest.mark.parametrize("history", HISTORIES)
def test_the_safe_version_ends_at_the_plain_one_s_schema_and_rolls_back_to_the_parent(
    history, shop, packages, bundle_root
) -> None:
    parent, source = HISTORIES[history]
    schemas = {}
    for safe in (False, True):
        if safe:
            packages.create("shop", copy_from=SHOP_MIGRATIONS)
        packages.add("shop", parent, source)
        name = "safe" if safe else "plain"
        make("shop", safe=safe, name=name, interactive=False)
        directory = packages.directories["shop"]
        last = max(p.stem for p in directory.glob("00[0-9][0-9]_*.py"))
        with ScratchDatabase("default", use_cache=False) as database:
            database.create()
            migrate(database, "shop", parent)
            before = schema_of(database)
            migrate(database, "shop", last)
            if safe:
                # The one difference meant: a new column keeps its default in the database.
                kept = [("shop_order", "discount"), *KEPT_DEFAULTS.get(history, [])]
                with database.activated() as connection, connection.cursor() as cursor:
                    for table, column in kept:
                        cursor.execute(
                            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP DEFAULT'
                        )
            schemas[safe] = schema_of(database)
            migrate(database, "shop", parent)
            assert_same_schema(schema_of(database), before, f"rolling back {name}")
    assert_same_schema(schemas[True], schemas[False], "--safe ends elsewhere than the plain one")


@postgresql_only
def test_a_new_auto_now_add_column_defaults_to_the_current_time_in_the_database(
    shop, packages, bundle_root, monkeypatch
) -> None:
    packages.add("shop", "0005_drop_created", DROP_CREATED)
    # Django asks for the existing rows' value: a one-off default, timezone.now (Enter).
    answers = iter(["1", ""])
    monkeypatch.setattr("builtins.input", lambda *args: next(answers))
    make("shop", safe=True, name="created", interactive=True)
    main = load_bundle(bundle_root / "shop" / "0006_created")
    [add] = [op for op in changes(main) if "created_at" in " ".join(op.forward_sql)]
    assert add.forward_sql[0].startswith(
        'ALTER TABLE "shop_customer" ADD COLUMN "created_at" timestamp with time zone DEFAULT ('
    )
    assert not any("DROP DEFAULT" in sql for sql in add.forward_sql)
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_drop_created")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_customer (email, name, newsletter_opt_in) "
                "VALUES ('before@example.com', 'B', false)"
            )
        migrate(database, "shop", "0006_created")
        with database.activated() as connection, connection.cursor() as cursor:
            # The code still running does not know created_at: its INSERT gets the time.
            cursor.execute(
                "INSERT INTO shop_customer (email, name, newsletter_opt_in) "
                "VALUES ('old@example.com', 'O', false) "
                "RETURNING created_at > now() - interval '1 minute'"
            )
            assert cursor.fetchone() == (True,)
            cursor.execute("SELECT count(*) FROM shop_customer WHERE created_at IS NULL")
            assert cursor.fetchone() == (0,)


@postgresql_only
def test_a_column_made_not_null_with_a_default_is_filled_in_batches_then_set_not_null(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", "0005_nullable_stock", NULLABLE_STOCK)
    make("shop", safe=True, name="stock", interactive=False)
    names = written_after(shop, "0005")
    assert names == ["0006_stock", "0007_stock_fill", "0008_stock_validate", "0009_stock_indexes"]
    main, fill, validate = (load_bundle(bundle_root / "shop" / n) for n in names[:3])
    main_sql = " ".join(sql for op in changes(main) for sql in op.forward_sql)
    assert 'ALTER COLUMN "stock" SET DEFAULT 0' in main_sql
    assert "UPDATE" not in main_sql and "SET NOT NULL" not in main_sql
    assert not fill.atomic
    fill_sql = [sql for op in changes(fill) for sql in op.forward_sql]
    assert fill_sql[0].startswith("DO $fill$") and "COMMIT;" in fill_sql[0]
    assert "NOT VALID" in fill_sql[1] and fill_sql[2] == fill_sql[0]
    assert not any("DEFAULT" in sql for op in changes(validate) for sql in op.forward_sql)
    # The validated CHECK proves the column set: SET NOT NULL reads no row (no MS121).
    report = json.loads((bundle_root / "shop" / names[2] / "report.json").read_text())
    assert "MS121" not in {f["rule"] for f in report["findings"]}
    call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
    validated = validate_all()
    assert validated.count(": passed") == len(names), validated
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, "shop", "0005_nullable_stock")

        def insert(count: int, start: int) -> None:
            with database.activated() as connection, connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO shop_product (sku, name, price, stock, active) "
                    "SELECT 'sku' || n, 'P', 1, CASE WHEN n %% 3 = 0 THEN 7 END, true "
                    "FROM generate_series(%s, %s) AS n",
                    [start, start + count - 1],
                )

        insert(12_000, 1)  # three batches of primary keys, two rows in three NULL
        migrate(database, "shop", names[0])
        insert(10, 20_000)  # the code still running inserts NULL meanwhile
        migrate(database, "shop", names[2])
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT stock, count(*) FROM shop_product GROUP BY 1 ORDER BY 1")
            assert cursor.fetchall() == [(0, 8_007), (7, 4_003)]
            cursor.execute(
                "SELECT is_nullable, column_default FROM information_schema.columns "
                "WHERE table_name = 'shop_product' AND column_name = 'stock'"
            )
            assert cursor.fetchone() == ("NO", "0")  # the default stays
        migrate(database, "shop", "0005_nullable_stock")


@postgresql_only
def test_update_into_several_migrations_is_refused_writing_nothing(
    shop, packages, bundle_root
) -> None:
    packages.add("shop", PARENT, SWAP_INDEXES)  # the leaf, not applied: --update may take it
    before = {p.name: p.read_text() for p in shop.glob("*.py")}
    with pytest.raises(CommandError, match="--update cannot turn the last migration") as error:
        make("shop", safe=True, update=True, interactive=False)
    assert "0005_swap_indexes.py" in str(error.value)
    assert {p.name: p.read_text() for p in shop.glob("*.py")} == before
    assert not bundle_root.exists() or not list(bundle_root.rglob("bundle.json"))
