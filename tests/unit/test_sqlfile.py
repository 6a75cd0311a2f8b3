"""Bundle SQL files round trip (no server): ``up.sql`` and ``down.sql`` rendered from a bundle
and read back with the splitter and the ``-- [i/n]`` markers (both bundle/sqlfile.py) give each
operation its statements back, in its section, deferred ones apart.

``tests/test_sqlfile.py`` covers the splitter on hand-written files; these tests start from bundles.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace

from migration_studio.bundle.model import Bundle, OperationSQL
from migration_studio.bundle.sqlfile import Marker, read, render_down_sql, render_up_sql
from migration_studio.capture.session import StatementRecorder
from migration_studio.sql.splitter import split

from .builders import bundle, facts, op
from .builders import field as field_facts

FRAMING = ("BEGIN", "COMMIT", "PRAGMA")


@dataclass
class ReadBack:
    """What a SQL file says, read as validatemigration reads it."""

    #: BEGIN, COMMIT and PRAGMA statements, in order.
    framing: list[str] = field(default_factory=list)
    #: Operation index -> its statements, and its queued (deferred) statements.
    statements: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    deferred: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: The markers in file order: (operation, deferred).
    markers: list[tuple[int, bool]] = field(default_factory=list)
    #: Statements before the first marker that are not framing.
    stray: list[str] = field(default_factory=list)


def read_back(text: str, vendor: str) -> ReadBack:
    result = ReadBack()
    for entry in read(text, vendor):
        if isinstance(entry, Marker):
            result.markers.append((entry.operation, entry.deferred))
        elif entry.keyword in FRAMING:
            result.framing.append(entry.sql)
        elif entry.operation is None:
            result.stray.append(entry.sql)
        else:
            target = result.deferred if entry.deferred else result.statements
            target[entry.operation].append(entry.sql)
    return result


def framing(migration: Bundle) -> tuple[list[str], list[str]]:
    """The statements before the first operation and after the last: PRAGMAs, BEGIN, COMMIT."""
    sqlite = migration.vendor == "sqlite"
    opening = ["PRAGMA foreign_keys = OFF;"] * sqlite + ["BEGIN;"] * migration.transactional
    closing = ["COMMIT;"] * migration.transactional + ["PRAGMA foreign_keys = ON;"] * sqlite
    return opening, closing


def statements(texts: list[str] | None) -> list[str]:
    """The statements a client runs for captured texts: each text is one statement, but for the
    texts Django executes as two (:data:`TWO_STATEMENTS`)."""
    return [statement for text in texts or [] for statement in TWO_STATEMENTS.get(text, [text])]


def assert_round_trip(migration: Bundle) -> tuple[str, str]:
    """up.sql and down.sql give every operation its statements back; returns both files."""
    up, down = render_up_sql(migration), render_down_sql(migration)
    vendor = migration.vendor
    opening, closing = framing(migration)
    for text, ops, attr, deferred_attr in (
        (up, migration.operations, "forward_sql", "deferred_forward_sql"),
        (down, list(reversed(migration.operations)), "reverse_sql", "deferred_reverse_sql"),
    ):
        back = read_back(text, vendor)
        assert back.stray == []
        assert back.framing == opening + closing
        assert back.markers == [(o.index, False) for o in ops] + [
            (o.index, True) for o in ops if getattr(o, deferred_attr)
        ]
        for o in ops:
            assert back.statements[o.index] == statements(getattr(o, attr)), o.description
            assert back.deferred[o.index] == statements(getattr(o, deferred_attr))
        # The client's view: every statement in file order, the queued ones at the end.
        expected = [s for o in ops for s in statements(getattr(o, attr))] + [
            s for o in ops for s in statements(getattr(o, deferred_attr))
        ]
        assert split(text, vendor) == opening + expected + closing
    return up, down


# -- operations --------------------------------------------------------------------------------


def add_field() -> OperationSQL:
    return op(
        "AddField",
        [
            'ALTER TABLE "shop_order" ADD COLUMN "rating" integer DEFAULT 3 NOT NULL;',
            'ALTER TABLE "shop_order" ALTER COLUMN "rating" DROP DEFAULT;',
        ],
        ['ALTER TABLE "shop_order" DROP COLUMN "rating" CASCADE;'],
        description="Add field rating to order",
        facts=facts("shop_order", field_after=field_facts("rating", "integer", has_default=True)),
    )


FK = "shop_order_referrer_id_3f1b2c4d_fk_shop_customer_id"
ADD_FK_COLUMN = (
    f'ALTER TABLE "shop_order" ADD COLUMN "referrer_id" bigint NULL CONSTRAINT "{FK}" '
    'REFERENCES "shop_customer"("id") DEFERRABLE INITIALLY DEFERRED;'
)
SET_CONSTRAINTS = f'SET CONSTRAINTS "{FK}" IMMEDIATE;'
#: Captured texts that hold two statements (Django's schema editor executes them at once).
TWO_STATEMENTS = {f"{ADD_FK_COLUMN} {SET_CONSTRAINTS}": [ADD_FK_COLUMN, SET_CONSTRAINTS]}


def add_foreign_key() -> OperationSQL:
    return op(
        "AddField",
        [f"{ADD_FK_COLUMN} {SET_CONSTRAINTS}"],
        [
            f'ALTER TABLE "shop_order" DROP CONSTRAINT "{FK}";',
            'ALTER TABLE "shop_order" DROP COLUMN "referrer_id" CASCADE;',
        ],
        deferred=[
            'CREATE INDEX "shop_order_referrer_id_3f1b2c4d" ON "shop_order" ("referrer_id");'
        ],
        description="Add field referrer to order",
    )


PLPGSQL = """\
CREATE FUNCTION shop_touch() RETURNS trigger AS $$
BEGIN
  -- [1/1] not a marker; nor the end;
  NEW.note := 'it''s; done';
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;"""

TAGGED = """\
CREATE OR REPLACE FUNCTION shop_count(t text) RETURNS bigint AS $body$
DECLARE n bigint;
BEGIN
  EXECUTE $q$SELECT count(*) FROM $q$ || quote_ident(t) INTO n;
  RETURN n;
END;
$body$ LANGUAGE plpgsql;"""

TRICKY_POSTGRESQL = [
    'UPDATE "shop_order" SET "note" = \'a; b\' WHERE "note" = \'\';',
    'UPDATE "shop_order" SET "note" = E\'it\\\'s; here\' WHERE "id" = 1;',
    'UPDATE "we;ird" SET "x" = 1;',
    PLPGSQL,
    TAGGED,
    "DO $$ BEGIN PERFORM 1; END $$;",
    "SELECT 1 /* a; /* nested; */ comment */;",
]


def run_sql(forward: list[str], reverse: list[str] | None = None, **options) -> OperationSQL:
    return op(
        "RunSQL",
        forward,
        reverse,
        reversible=reverse is not None,
        reason="" if reverse is not None else "RunSQL has no reverse_sql",
        **options,
    )


def run_python(*, reversible: bool = True) -> OperationSQL:
    reason = (
        "RunPython runs Python code (shop.migrations.0002_change.fill), which SQL cannot "
        "express; apply it with manage.py migrate"
    )
    return op(
        "RunPython",
        reverse=[] if reversible else None,
        expressible=False,
        reversible=reversible,
        reason=reason if reversible else f"{reason}; RunPython has no reverse_code",
    )


# -- round trips -------------------------------------------------------------------------------


def test_schema_operations_with_deferred_statements() -> None:
    up, down = assert_round_trip(bundle(add_field(), add_foreign_key()))
    assert "-- [1/2] Add field rating to order (AddField)" in up.splitlines()
    assert "-- queued by [2/2] Add field referrer to order" in up.splitlines()
    assert "-- Deferred statements: Django runs these at the end of the migration." in up
    # down.sql lists the operations in reverse order.
    assert down.index("-- [2/2]") < down.index("-- [1/2]")


def test_semicolons_inside_strings_identifiers_dollar_quotes_and_comments() -> None:
    assert_round_trip(
        bundle(
            run_sql(TRICKY_POSTGRESQL[:4], ["DROP FUNCTION shop_touch();"]),
            run_sql(TRICKY_POSTGRESQL[4:], []),
            add_field(),
        )
    )


def test_sqlite_files_with_a_trigger_body_and_bracket_identifiers() -> None:
    trigger = (
        'CREATE TRIGGER "shop_order_touch" AFTER UPDATE ON "shop_order" BEGIN\n'
        "  UPDATE shop_order SET note = 'x; y' WHERE id = NEW.id;\n"
        "  DELETE FROM shop_tag;\n"
        "END;"
    )
    rebuild = [
        'CREATE TABLE "new__shop_order" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"rating" integer NOT NULL);',
        'INSERT INTO "new__shop_order" ("id", "rating") SELECT "id", 3 FROM "shop_order";',
        'DROP TABLE "shop_order";',
        'ALTER TABLE "new__shop_order" RENAME TO "shop_order";',
    ]
    migration = bundle(
        op("AddField", rebuild, ['ALTER TABLE "shop_order" DROP COLUMN "rating";']),
        run_sql([trigger, "SELECT [a;b], `c;d` FROM t;"], ['DROP TRIGGER "shop_order_touch";']),
        vendor="sqlite",
    )
    up, _ = assert_round_trip(migration)
    assert up.splitlines()[-1] == "PRAGMA foreign_keys = ON;"


def test_mysql_backslash_escapes() -> None:
    assert_round_trip(
        bundle(
            run_sql(["UPDATE `shop_order` SET `note` = 'it\\'s; here';", 'SELECT "a;b";'], []),
            vendor="mysql",
            transactional=False,
        )
    )


def test_concurrent_statements_run_outside_a_transaction() -> None:
    concurrently = op(
        "AddIndexConcurrently",
        ['CREATE INDEX CONCURRENTLY "shop_order_status_idx" ON "shop_order" ("status");'],
        ['DROP INDEX CONCURRENTLY IF EXISTS "shop_order_status_idx";'],
    )
    up, down = assert_round_trip(bundle(concurrently, atomic=True, transactional=False))
    for text in (up, down):
        assert "-- Not wrapped in a transaction: it contains CONCURRENTLY statements." in text
        assert [s for s in split(text, "postgresql") if s in ("BEGIN;", "COMMIT;")] == []
    non_atomic, _ = assert_round_trip(bundle(concurrently, atomic=False))
    assert "-- Not wrapped in a transaction (non-atomic migration" in non_atomic


def test_runpython_is_a_marked_comment_block_in_its_section() -> None:
    migration = bundle(add_field(), run_python(reversible=False), add_foreign_key())
    up, down = assert_round_trip(migration)
    section = up.split("-- [2/3] Raw Python operation (RunPython)\n", 1)[1].split("\n\n", 1)[0]
    assert section.splitlines() == [
        "-- !! NOT EXPRESSIBLE AS SQL: RunPython runs Python code "
        "(shop.migrations.0002_change.fill), which SQL cannot express",
        "-- !! apply it with manage.py migrate",
        "-- !! RunPython has no reverse_code",
        "-- !! Run: python manage.py migrate shop 0002_change",
    ]
    assert "-- !! THIS MIGRATION IS NOT FULLY REVERSIBLE" in down
    rollback = down.split("-- [2/3] Raw Python operation (RunPython)\n", 1)[1].split("\n\n", 1)[0]
    assert "-- !! IRREVERSIBLE: RunPython runs Python code" in rollback
    assert not migration.reversible


def test_runpython_statements_stay_in_its_section() -> None:
    # Queries a RunPython ran through the schema editor are recorded with it.
    python = run_python()
    python.forward_sql = ['UPDATE "shop_order" SET "note" = \'filled; by Python\';']
    assert_round_trip(bundle(add_field(), python))


def test_sections_without_sql_say_why() -> None:
    state_only = op("AlterModelOptions", [], [], description="Change Meta options on order")
    # The routers refuse the operation on the captured database: migrate runs no SQL for it.
    refused = op("AddField", [], [], allowed=False)
    up, _ = assert_round_trip(bundle(state_only, refused))
    assert "-- (no SQL: this operation changes Django's state only)" in up
    assert "-- (no SQL: the database routers do not allow this operation on 'default')" in up


def test_descriptions_with_sql_characters_stay_in_their_marker() -> None:
    tricky = op(
        "RunSQL",
        ['UPDATE "shop_order" SET "note" = \'\';'],
        [],
        description="Fill notes; see [1/2] -- and 'quotes'",
    )
    up, _ = assert_round_trip(bundle(tricky, add_field()))
    assert "-- [1/2] Fill notes; see [1/2] -- and 'quotes' (RunSQL)" in up.splitlines()


def test_ten_or_more_operations_keep_their_numbers() -> None:
    operations = [
        run_sql([f'UPDATE "shop_order" SET "n" = {i};'], [f'UPDATE "shop_order" SET "n" = -{i};'])
        for i in range(12)
    ]
    up, _ = assert_round_trip(bundle(*operations))
    assert "-- [12/12] Raw SQL operation (RunSQL)" in up.splitlines()


def test_a_recorded_statement_ending_in_a_line_comment() -> None:
    recorder = StatementRecorder(SimpleNamespace(execute=lambda sql, params=(): None))
    recorded = recorder.render('UPDATE "shop_order" SET "note" = \'\' -- backfill', None)
    assert_round_trip(bundle(run_sql([recorded], []), add_field()))
