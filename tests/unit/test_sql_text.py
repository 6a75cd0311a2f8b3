"""The small readings of SQL text in ``sql/text.py``, its layout for reading (``sql/layout.py``),
and the splitter's statement terminator."""

from __future__ import annotations

import pytest

from migration_studio.sql.layout import laid_out
from migration_studio.sql.splitter import split, terminated
from migration_studio.sql.text import (
    all_parenthesised_after,
    backup_of,
    calls,
    identifier_list,
    parenthesised_after,
    quote_identifier,
    quoted_identifiers,
    runs_concurrently,
    split_top_level,
    where_clause,
)


@pytest.mark.parametrize(
    ("name", "vendor", "quoted"),
    [
        ("shop_order", "postgresql", '"shop_order"'),
        ('we"ird', "postgresql", '"we""ird"'),
        ("we`ird", "mysql", "`we``ird`"),
        ("due date", "sqlite", '"due date"'),
    ],
)
def test_quote_identifier_escapes_the_quote_character(name, vendor, quoted) -> None:
    assert quote_identifier(name, vendor) == quoted


def test_quoted_identifiers_read_doubled_quotes_back() -> None:
    names = [quote_identifier(name, "postgresql") for name in ("a", 'b"c')]
    sql = f"SELECT {names[0]}, {names[1]}"
    assert quoted_identifiers(sql) == {"a", 'b"c'}


def test_parentheses_inside_strings_do_not_count() -> None:
    sql = """ALTER TABLE "t" ADD CONSTRAINT "c" CHECK ("code"::text ~ '^[0-9)]+$');"""
    assert parenthesised_after(sql, '"c" CHECK') == """"code"::text ~ '^[0-9)]+$'"""
    create = 'CREATE TABLE "t" ("a" int CHECK ("a" > 0), CHECK (1=1))'
    assert all_parenthesised_after(create, "CHECK") == ['"a" > 0', "1=1"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('"due date", "customer_id"', ["due date", "customer_id"]),
        ('"title" DESC', ["title"]),
        ("a, b", ["a", "b"]),
        ('lower("name")', []),
        ("", []),
    ],
)
def test_identifier_list(text, names) -> None:
    assert identifier_list(text) == names


def test_where_clause_and_concurrently() -> None:
    sql = 'CREATE INDEX CONCURRENTLY "i" ON "t" ("a") WHERE "a" IS NOT NULL'
    assert where_clause(sql) == '"a" IS NOT NULL'
    assert where_clause('CREATE INDEX "i" ON "t" ("a")') is None
    assert runs_concurrently(sql)
    assert not runs_concurrently('CREATE INDEX "concurrently" ON "t" ("a")')


@pytest.mark.parametrize(
    ("default", "volatile"),
    [
        ("(GEN_RANDOM_UUID())", True),
        ("nextval('seq'::regclass)", True),
        ("'random'", False),
        ("'call random() later'", False),
        ("42", False),
    ],
)
def test_calls_looks_for_function_calls_outside_strings(default, volatile) -> None:
    assert calls(default, ("random", "gen_random_uuid", "nextval")) is volatile


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite", "mysql"])
def test_terminated_ends_a_statement_that_ends_in_a_line_comment(vendor) -> None:
    statement = terminated("UPDATE t SET a = 1 -- backfill", vendor)
    assert split(statement + "\nSELECT 1;", vendor) == [statement, "SELECT 1;"]
    assert terminated("UPDATE t SET a = '--'", vendor) == "UPDATE t SET a = '--';"
    assert terminated("SELECT 1", vendor) == "SELECT 1;"


def test_split_top_level_ignores_commas_in_parentheses_literals_and_names() -> None:
    text = "\"a\" int, \"b\" numeric(8, 2), \"c,d\" text DEFAULT 'x,y', CHECK (\"a\" IN (1, 2))"
    assert [part.strip() for part in split_top_level(text)] == [
        '"a" int',
        '"b" numeric(8, 2)',
        "\"c,d\" text DEFAULT 'x,y'",
        'CHECK ("a" IN (1, 2))',
    ]


def test_laid_out_puts_each_column_of_a_new_table_on_its_line_and_keeps_the_text() -> None:
    sql = (
        'CREATE TABLE "new__shop_order" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"total" decimal(8, 2) NOT NULL, "note" varchar(20) DEFAULT \'a, b\' NOT NULL, '
        '"customer_id" bigint NOT NULL REFERENCES "shop_customer" ("id") DEFERRABLE INITIALLY '
        "DEFERRED);"
    )
    assert laid_out(sql) == (
        'CREATE TABLE "new__shop_order" (\n'
        '  "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,\n'
        '  "total" decimal(8, 2) NOT NULL,\n'
        "  \"note\" varchar(20) DEFAULT 'a, b' NOT NULL,\n"
        '  "customer_id" bigint NOT NULL REFERENCES "shop_customer" ("id") DEFERRABLE INITIALLY '
        "DEFERRED\n);"
    )
    assert " ".join(laid_out(sql).split()).replace("( ", "(").replace(" )", ")") == sql


def test_laid_out_leaves_short_statements_as_written_and_breaks_long_queries_at_clauses() -> None:
    short = 'ALTER TABLE "t" ADD COLUMN "c" integer NULL;'
    assert laid_out(short) == short
    query = (
        'INSERT INTO "new__shop_order" ("id", "created_at", "status") SELECT "id", '
        '"created_at", "status" FROM "shop_order" WHERE "status" = \'<new>\';'
    )
    lines = laid_out(query).splitlines()
    assert lines[0].startswith('INSERT INTO "new__shop_order" ("id",')
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == [
        "INSERT",
        "SELECT",
        "FROM",
        "WHERE",
    ]
    assert lines[-1] == "WHERE \"status\" = '<new>';"
    assert " ".join(laid_out(query).split()) == query


def test_backup_of_finds_the_copy_of_a_column_made_before_its_drop() -> None:
    statements = [
        'CREATE TABLE "ms_backup_1a2b3c4d_shop_customer" AS SELECT "id", "points", '
        'CURRENT_TIMESTAMP AS "ms_backed_up_at" FROM "shop_customer";',
        'ALTER TABLE "shop_customer" DROP COLUMN "points" CASCADE;',
    ]
    assert backup_of(statements, "shop_customer", "points") == "ms_backup_1a2b3c4d_shop_customer"
    assert backup_of(statements, "shop_customer", "nickname") is None
    assert backup_of(statements[1:], "shop_customer", "points") is None
    other = 'CREATE TABLE "copy" AS SELECT "id", "points" FROM "shop_customer";'
    assert backup_of([other], "shop_customer", "points") is None
    whole = (
        'CREATE TABLE "ms_backup_9f8e7d6c_shop_coupon" AS SELECT *, CURRENT_TIMESTAMP AS '
        '"ms_backed_up_at" FROM "shop_coupon";'
    )
    assert backup_of([whole], "shop_coupon") == "ms_backup_9f8e7d6c_shop_coupon"
    assert backup_of([whole], "shop_customer") is None
