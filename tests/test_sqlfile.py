"""Reading bundle SQL files: statements split as the database's client splits them (no server)."""

from __future__ import annotations

import pytest

from migration_studio.bundle.sqlfile import Marker, Statement, read
from migration_studio.sql.splitter import split

PLPGSQL = """\
CREATE FUNCTION shop_touch() RETURNS trigger AS $$
BEGIN
  NEW.updated := now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;"""

TAGGED = """\
CREATE OR REPLACE FUNCTION shop_count(t text) RETURNS bigint AS $function$
DECLARE n bigint;
BEGIN
  EXECUTE $q$SELECT count(*) FROM $q$ || quote_ident(t) INTO n;
  RETURN n;
END;
$function$ LANGUAGE plpgsql;"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"BEGIN;\n{PLPGSQL}\nCOMMIT;\n", ["BEGIN;", PLPGSQL, "COMMIT;"], id="dollar"),
        pytest.param(f"{TAGGED}\nSELECT 1;", [TAGGED, "SELECT 1;"], id="tagged-dollar"),
        pytest.param("SELECT 'a;''b';\nSELECT 2;", ["SELECT 'a;''b';", "SELECT 2;"], id="string"),
        pytest.param(
            "SELECT E'it\\'s; here';\nSELECT 2;",
            ["SELECT E'it\\'s; here';", "SELECT 2;"],
            id="escape-string",
        ),
        pytest.param(
            "SELECT 'C:\\';\nSELECT 2;", ["SELECT 'C:\\';", "SELECT 2;"], id="standard-string"
        ),
        pytest.param(
            'SELECT "we;ird""x" FROM t;\nSELECT 3;',
            ['SELECT "we;ird""x" FROM t;', "SELECT 3;"],
            id="quoted-identifier",
        ),
        pytest.param(
            "/* a /* b; */ c; */ SELECT 1;\nSELECT 2;",
            ["SELECT 1;", "SELECT 2;"],
            id="nested-comment",
        ),
        pytest.param(
            "SELECT 1 -- not; the end\n+ 1;\n-- x;\nSELECT 2;",
            ["SELECT 1 -- not; the end\n+ 1;", "SELECT 2;"],
            id="line-comments",
        ),
        pytest.param(
            "SELECT a$b$ FROM t; SELECT $1;", ["SELECT a$b$ FROM t;", "SELECT $1;"], id="not-dollar"
        ),
        pytest.param(
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
            "SELECT CASE WHEN true THEN 2 END; END;\nSELECT 3;",
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
                "SELECT CASE WHEN true THEN 2 END; END;",
                "SELECT 3;",
            ],
            id="begin-atomic",
        ),
        pytest.param(
            "CREATE TABLE t (a int CHECK (a > 0));\nDO $$ BEGIN PERFORM 1; END $$;",
            ["CREATE TABLE t (a int CHECK (a > 0));", "DO $$ BEGIN PERFORM 1; END $$;"],
            id="parentheses-and-do",
        ),
        pytest.param("SELECT 1;\nSELECT 2", ["SELECT 1;", "SELECT 2"], id="last-without-semicolon"),
    ],
)
def test_postgresql_statements_split_as_psql_splits_them(text: str, expected: list[str]) -> None:
    assert split(text, "postgresql") == expected


def test_sqlite_statements_split_as_the_sqlite3_shell_splits_them() -> None:
    trigger = (
        'CREATE TRIGGER "t" AFTER INSERT ON "a" BEGIN\n'
        "  UPDATE a SET x = CASE WHEN 1 THEN 2 END;\n"
        "  DELETE FROM b;\n"
        "END;"
    )
    text = f"PRAGMA foreign_keys = OFF;\nBEGIN;\n{trigger}\nSELECT [a;b], `c;d` FROM t;\nCOMMIT;"
    assert split(text, "sqlite") == [
        "PRAGMA foreign_keys = OFF;",
        "BEGIN;",
        trigger,
        "SELECT [a;b], `c;d` FROM t;",
        "COMMIT;",
    ]
    # SQLite block comments do not nest.
    assert split("/* a /* b */ SELECT 1;", "sqlite") == ["SELECT 1;"]


def test_markers_attribute_statements_to_their_operation() -> None:
    text = (
        "-- app.0002_x: forwards SQL\n"
        "BEGIN;\n\n"
        "-- [1/2] Raw SQL operation (RunSQL)\n"
        f"{PLPGSQL}\n\n"
        "-- [2/2] Raw Python operation (RunPython)\n"
        "-- !! NOT EXPRESSIBLE AS SQL: ...\n"
        'CREATE INDEX "i" ON "t" ("c");\n'
        "-- Deferred statements: Django runs these at the end of the migration.\n"
        "-- queued by [1/2] Raw SQL operation\n"
        'CREATE INDEX "j" ON "t" ("d");\n\n'
        "COMMIT;\n"
    )
    assert read(text, "postgresql") == [
        Statement("BEGIN;"),
        Marker(0),
        Statement(PLPGSQL, 0),
        Marker(1),
        Statement('CREATE INDEX "i" ON "t" ("c");', 1),
        Marker(0, deferred=True),
        Statement('CREATE INDEX "j" ON "t" ("d");', 0, deferred=True),
        Statement("COMMIT;", 0, deferred=True),
    ]
    keywords = [e.keyword for e in read(text, "postgresql") if isinstance(e, Statement)]
    assert keywords == ["BEGIN", "CREATE", "CREATE", "CREATE", "COMMIT"]


def test_a_marker_inside_a_function_body_is_not_a_marker() -> None:
    body = "CREATE FUNCTION f() RETURNS int AS $$\n-- [2/2] no marker\nSELECT 1;\n$$ LANGUAGE sql;"
    assert read(f"-- [1/2] Raw SQL operation (RunSQL)\n{body}\n", "postgresql") == [
        Marker(0),
        Statement(body, 0),
    ]


def test_checks_sql_queries_keep_their_description_and_their_semicolons_in_strings() -> None:
    from migration_studio.bundle.checksfile import parse

    text = (
        "-- Validation checks for shop.0002_x.\n"
        "-- (header)\n\n"
        "-- check: no order note says 'a;b'\n"
        "SELECT id FROM shop_order WHERE note = 'a;b';\n\n"
        "-- Your own checks (kept when the bundle is regenerated):\n"
        "SELECT id FROM shop_order\n"
        "WHERE total < 0 -- refunds are separate\n"
        ";\n"
    )
    checks = parse(text, "postgresql")
    assert [(c.description, c.sql) for c in checks] == [
        ("no order note says 'a;b'", "SELECT id FROM shop_order WHERE note = 'a;b'"),
        (
            "SELECT id FROM shop_order\nWHERE total < 0 -- refunds are separate",
            "SELECT id FROM shop_order\nWHERE total < 0 -- refunds are separate",
        ),
    ]
