"""checks.sql without a server: the checks derived from a bundle's operations (SQL and facts),
written to the file, read back the same, the user's own checks kept (bundle/checksfile.py)."""

from __future__ import annotations

import pytest

from migration_studio.bundle.checksfile import (
    CUSTOM_MARK,
    Check,
    custom_part,
    derive,
    parse,
    render,
)
from migration_studio.bundle.model import Bundle, OperationSQL

from .builders import bundle, facts, field, op


def duplicates(table: str, *columns: str, extra: str = "") -> str:
    """The derived query for a unique constraint: every row sharing its values with another."""
    cols = ", ".join(f'"{c}"' for c in columns)
    not_null = " AND ".join(f'"{c}" IS NOT NULL' for c in columns)
    return (
        f'SELECT * FROM "{table}" WHERE {not_null}{extra} AND ({cols}) IN '
        f'(SELECT {cols} FROM "{table}" WHERE {not_null}{extra} '
        f"GROUP BY {cols} HAVING COUNT(*) > 1)"
    )

def add_field(table: str = "shop_order", name: str = "rating", **details) -> OperationSQL:
    return op(
        "AddField",
        [f'ALTER TABLE "{table}" ADD COLUMN "{name}" integer DEFAULT 3 NOT NULL;'],
        description=f"Add field {name} to order",
        facts=facts(table, field_after=field(name, "integer", **details)),
    )


def add_foreign_key(table: str = "shop_order", target: str = "shop_customer") -> OperationSQL:
    return op(
        "AddField",
        [
            f'ALTER TABLE "{table}" ADD COLUMN "referrer_id" bigint NULL CONSTRAINT "fk" '
            f'REFERENCES "{target}"("id") DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS "fk" '
            "IMMEDIATE;"
        ],
        description="Add field referrer to order",
        facts=facts(
            table,
            field_after=field(
                "referrer",
                "bigint",
                column="referrer_id",
                null=True,
                is_relation=True,
                target_table=target,
                target_column="id",
            ),
        ),
    )


def add_constraint(sql: str, table: str = "shop_order", name: str = "c") -> OperationSQL:
    return op(
        "AddConstraint",
        [sql],
        description=f"Create constraint {name} on model order",
        facts=facts(table, constraint=name),
    )


def rename_field(old: str, new: str, table: str = "shop_order") -> OperationSQL:
    return op(
        "RenameField",
        [f'ALTER TABLE "{table}" RENAME COLUMN "{old}" TO "{new}";'],
        description=f"Rename field {old} on order to {new}",
        facts=facts(table, field_before=field(old, "integer"), field_after=field(new, "integer")),
    )


def rename_table(old: str, new: str) -> OperationSQL:
    return op(
        "AlterModelTable",
        [f'ALTER TABLE "{old}" RENAME TO "{new}";'],
        description=f"Rename table for model to {new}",
        facts=facts(table_before=old, table_after=new),
    )


def remove_field(name: str, table: str = "shop_order") -> OperationSQL:
    return op(
        "RemoveField",
        [f'ALTER TABLE "{table}" DROP COLUMN "{name}" CASCADE;'],
        description=f"Remove field {name} from order",
        facts=facts(table, field_before=field(name, "integer")),
    )


def delete_model(table: str) -> OperationSQL:
    return op(
        "DeleteModel",
        [f'DROP TABLE "{table}" CASCADE;'],
        description="Delete model",
        facts=facts(table_before=table, table_after=None),
    )


def sqls(migration: Bundle) -> list[str]:
    return [check.sql for check in derive(migration)]


def assert_round_trip(migration: Bundle, custom: str = "") -> list[Check]:
    """render -> parse gives the derived checks back, then the custom ones, unchanged."""
    checks = derive(migration)
    text = render(migration, checks, custom)
    parsed = parse(text, migration.vendor)
    assert parsed[: len(checks)] == checks
    assert custom_part(text).strip("\n") == custom.strip("\n")
    return parsed


# -- what is derived ------------------------------------------------------------------------------


def test_not_null_column_added() -> None:
    [check] = derive(bundle(add_field()))
    assert check == Check(
        "shop_order.rating has no NULL (NOT NULL column; operation 1, Add field rating to order)",
        'SELECT * FROM "shop_order" WHERE "rating" IS NULL',
    )


def test_nullable_column_gives_no_check() -> None:
    assert derive(bundle(add_field(null=True))) == []


@pytest.mark.parametrize(
    ("before_null", "expected"),
    [(True, ['SELECT * FROM "shop_customer" WHERE "email" IS NULL']), (False, [])],
    ids=["null-to-not-null", "already-not-null"],
)
def test_altered_field_is_checked_only_when_it_becomes_not_null(
    before_null: bool, expected: list[str]
) -> None:
    alter = op(
        "AlterField",
        ['ALTER TABLE "shop_customer" ALTER COLUMN "email" TYPE varchar(200);'],
        facts=facts(
            "shop_customer",
            field_before=field("email", "varchar(100)", null=before_null),
            field_after=field("email", "varchar(200)"),
        ),
    )
    assert sqls(bundle(alter)) == expected


def test_unique_field_and_foreign_key() -> None:
    assert sqls(bundle(add_field(name="number", null=True, unique=True), add_foreign_key())) == [
        duplicates("shop_order", "number"),
        'SELECT c.* FROM "shop_order" c WHERE c."referrer_id" IS NOT NULL AND NOT EXISTS '
        '(SELECT 1 FROM "shop_customer" r WHERE r."id" = c."referrer_id")',
    ]


def test_a_check_derived_twice_is_listed_once() -> None:
    # AlterField(unique=True): the facts say "unique field" and the SQL adds a UNIQUE constraint.
    alter = op(
        "AlterField",
        [
            'ALTER TABLE "shop_order" ADD CONSTRAINT "shop_order_number_4c1a2b3d_uniq" '
            'UNIQUE ("number");'
        ],
        facts=facts(
            "shop_order",
            field_before=field("number", "varchar(20)"),
            field_after=field("number", "varchar(20)", unique=True),
        ),
    )
    [check] = derive(bundle(alter))
    assert check.description.startswith("no duplicate (number) in shop_order (unique field;")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param(
            'ALTER TABLE "shop_order" ADD CONSTRAINT "c" CHECK ("total" >= 0);',
            'SELECT * FROM "shop_order" WHERE NOT ("total" >= 0)',
            id="check",
        ),
        pytest.param(
            'ALTER TABLE "shop_order" ADD CONSTRAINT "c" CHECK ("status" IN (\'a;b\', \'(c)\'));',
            "SELECT * FROM \"shop_order\" WHERE NOT (\"status\" IN ('a;b', '(c)'))",
            id="check-with-semicolon-and-parentheses-in-strings",
        ),
        pytest.param(
            'ALTER TABLE "shop_order" ADD CONSTRAINT "c" UNIQUE ("customer_id", "number");',
            duplicates("shop_order", "customer_id", "number"),
            id="unique-constraint",
        ),
        pytest.param(
            'CREATE UNIQUE INDEX "c" ON "shop_order" ("number") WHERE "status" = \'open\';',
            duplicates("shop_order", "number", extra=' AND ("status" = \'open\')'),
            id="partial-unique-index",
        ),
        pytest.param(
            'ALTER TABLE "shop_orderline" ADD CONSTRAINT "c" FOREIGN KEY ("order_id") '
            'REFERENCES "shop_order" ("id") DEFERRABLE INITIALLY DEFERRED;',
            'SELECT c.* FROM "shop_orderline" c WHERE c."order_id" IS NOT NULL AND NOT EXISTS '
            '(SELECT 1 FROM "shop_order" r WHERE r."id" = c."order_id")',
            id="foreign-key-constraint",
        ),
    ],
)
def test_constraints_and_unique_indexes_from_their_sql(sql: str, expected: str) -> None:
    table = "shop_orderline" if "shop_orderline" in sql else "shop_order"
    assert sqls(bundle(add_constraint(sql, table))) == [expected]


@pytest.mark.parametrize(
    "sql",
    [
        'CREATE UNIQUE INDEX "c" ON "shop_customer" ((lower("email")));',
        'CREATE INDEX "c" ON "shop_order" ("number");',
    ],
    ids=["expression-index", "plain-index"],
)
def test_no_check_for_what_cannot_be_checked_by_columns(sql: str) -> None:
    assert sqls(bundle(add_constraint(sql))) == []


def test_sqlite_rebuild_with_the_constraint_checks_the_final_table() -> None:
    rebuild = op(
        "AddConstraint",
        [
            'CREATE TABLE "new__shop_order" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
            '"total" decimal NOT NULL, "number" varchar(20) NOT NULL, CONSTRAINT "total_gte_0" '
            'CHECK ("total" >= 0));',
            'INSERT INTO "new__shop_order" ("id", "total", "number") '
            'SELECT "id", "total", "number" FROM "shop_order";',
            'DROP TABLE "shop_order";',
            'ALTER TABLE "new__shop_order" RENAME TO "shop_order";',
        ],
        facts=facts("shop_order", constraint="total_gte_0"),
    )
    unique = op(
        "AddConstraint",
        [
            'CREATE TABLE "new__shop_order" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
            '"number" varchar(20) NOT NULL, CONSTRAINT "number_uniq" UNIQUE ("number"));'
        ],
        facts=facts("shop_order", constraint="number_uniq"),
    )
    assert sqls(bundle(rebuild, unique, vendor="sqlite")) == [
        'SELECT * FROM "shop_order" WHERE NOT ("total" >= 0)',
        duplicates("shop_order", "number"),
    ]


def test_a_parenthesis_inside_a_string_of_a_check_condition() -> None:
    sql = """ALTER TABLE "shop_order" ADD CONSTRAINT "c" CHECK ("code"::text ~ '^[0-9)]+$');"""
    assert sqls(bundle(add_constraint(sql))) == [
        """SELECT * FROM "shop_order" WHERE NOT ("code"::text ~ '^[0-9)]+$')"""
    ]


# -- later operations of the same migration ------------------------------------------------------


def test_checks_follow_renames_of_their_column_and_table() -> None:
    checks = derive(
        bundle(
            add_field(),
            add_constraint('ALTER TABLE "shop_order" ADD CONSTRAINT "c" CHECK ("rating" >= 0);'),
            add_foreign_key(),
            rename_field("rating", "score"),
            rename_table("shop_order", "shop_purchase"),
            rename_table("shop_customer", "shop_client"),
        )
    )
    assert [c.sql for c in checks] == [
        'SELECT * FROM "shop_purchase" WHERE "score" IS NULL',
        'SELECT * FROM "shop_purchase" WHERE NOT ("score" >= 0)',
        'SELECT c.* FROM "shop_purchase" c WHERE c."referrer_id" IS NOT NULL AND NOT EXISTS '
        '(SELECT 1 FROM "shop_client" r WHERE r."id" = c."referrer_id")',
    ]
    assert "follows operation 4, Rename field rating on order to score" in checks[0].description
    assert "follows operation 5, Rename table for model to shop_purchase" in checks[0].description


def test_checks_on_removed_columns_or_tables_are_left_out() -> None:
    assert sqls(bundle(add_field(), remove_field("rating"))) == []
    assert sqls(bundle(add_field(), add_field(name="other"), remove_field("rating"))) == [
        'SELECT * FROM "shop_order" WHERE "other" IS NULL'
    ]
    assert sqls(bundle(add_foreign_key(), delete_model("shop_customer"))) == []
    assert sqls(bundle(add_field(), delete_model("shop_order"))) == []


def test_a_rename_of_another_column_with_the_same_prefix_changes_nothing() -> None:
    checks = derive(
        bundle(
            add_constraint('ALTER TABLE "shop_order" ADD CONSTRAINT "c" CHECK ("total" >= 0);'),
            rename_field("total_old", "total_previous"),
        )
    )
    assert [c.sql for c in checks] == ['SELECT * FROM "shop_order" WHERE NOT ("total" >= 0)']


# -- identifiers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("postgresql", 'SELECT * FROM "Order Items" WHERE "select" IS NULL'),
        ("sqlite", 'SELECT * FROM "Order Items" WHERE "select" IS NULL'),
        ("mysql", "SELECT * FROM `Order Items` WHERE `select` IS NULL"),
    ],
)
def test_names_are_quoted_for_the_vendor(vendor: str, expected: str) -> None:
    migration = bundle(add_field("Order Items", "sel", column="select"), vendor=vendor)
    assert sqls(migration) == [expected]
    assert_round_trip(migration)


def test_mixed_case_names_keep_their_case() -> None:
    sql = 'ALTER TABLE "ShopOrder" ADD CONSTRAINT "c" CHECK ("Total" >= 0 AND "Qty" > 0);'
    assert sqls(bundle(add_constraint(sql, "ShopOrder"))) == [
        'SELECT * FROM "ShopOrder" WHERE NOT ("Total" >= 0 AND "Qty" > 0)'
    ]


def test_quoted_column_names_with_spaces_in_a_unique_constraint() -> None:
    sql = 'ALTER TABLE "shop_order" ADD CONSTRAINT "c" UNIQUE ("due date", "customer_id");'
    assert sqls(bundle(add_constraint(sql))) == [
        duplicates("shop_order", "due date", "customer_id")
    ]


# -- the file ------------------------------------------------------------------------------------


def test_round_trip_of_every_kind_of_check() -> None:
    migration = bundle(
        add_field(),
        add_field(name="number", null=True, unique=True),
        add_foreign_key(),
        add_constraint(
            'ALTER TABLE "shop_order" ADD CONSTRAINT "c" CHECK ("status" IN (\'a;b\', \'--c\'));'
        ),
        add_constraint('CREATE UNIQUE INDEX "u" ON "shop_order" ("code") WHERE "code" <> \'\';'),
    )
    parsed = assert_round_trip(migration)
    assert len(parsed) == 5
    assert {c.sql.split()[0] for c in parsed} == {"SELECT"}


def test_the_users_checks_are_kept_and_parsed_after_the_derived_ones() -> None:
    custom = (
        "\n-- check: no order without lines; ever\n"
        "SELECT o.* FROM shop_order o\n"
        "WHERE NOT EXISTS (SELECT 1 FROM shop_orderline l WHERE l.order_id = o.id);\n\n"
        "SELECT id FROM shop_order WHERE note = 'x;y';\n"
    )
    migration = bundle(add_field())
    first = render(migration, derive(migration), custom)
    # Regenerating the bundle keeps the user's part as it was.
    again = render(migration, derive(migration), custom_part(first))
    assert again == first
    assert again.count(CUSTOM_MARK) == 1
    parsed = assert_round_trip(migration, custom)
    assert [(c.description, c.sql) for c in parsed[1:]] == [
        (
            "no order without lines; ever",
            "SELECT o.* FROM shop_order o\n"
            "WHERE NOT EXISTS (SELECT 1 FROM shop_orderline l WHERE l.order_id = o.id)",
        ),
        (
            "SELECT id FROM shop_order WHERE note = 'x;y'",
            "SELECT id FROM shop_order WHERE note = 'x;y'",
        ),
    ]


def test_a_migration_with_nothing_to_check() -> None:
    migration = bundle(add_field(null=True))
    text = render(migration, derive(migration))
    assert "-- (no check derived from this migration's operations)" in text
    assert parse(text, "postgresql") == []
    assert text.startswith("-- Validation checks for shop.0002_change.\n")
