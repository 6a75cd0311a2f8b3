"""Risk findings for concrete migrations, captured on the real server, with production-like sizes.

Each case bundles a change of the round-trip app (base: author, tag, book, note) with a stats file
giving the tables realistic sizes, then reads the bundle's report.json.
"""

from __future__ import annotations

import functools
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import IntegrityError, migrations, models
from django.db.models import Q

from migration_studio.bundle.store import load_bundle
from migration_studio.risk.analysis import analyse
from migration_studio.risk.stats import Stats, TableStats
from migration_studio.scratch.database import ScratchDatabase
from migration_studio.sql.splitter import first_word, split

from .cases import APP, base_operations
from .conftest import migrate, migration_source, run_sql_file, sql_file_error

ROWS = {
    "roundtrip_author": 200_000,
    "roundtrip_tag": 1_000,
    "roundtrip_book": 5_000_000,
    "roundtrip_note": 20_000_000,
}


@pytest.fixture
def stats_file(tmp_path: Path) -> Path:
    path = tmp_path / "stats.json"
    path.write_text(
        json.dumps(
            {
                "format": 1,
                "vendor": "postgresql",
                "tables": {name: {"rows": rows} for name, rows in ROWS.items()},
            }
        )
    )
    return path


@pytest.fixture
def report_of(packages, bundle_root, stats_file):
    """Bundle ``operations`` as 0002 (or a raw migration source) and return its report.json."""

    def report(operations=None, *, source: str | None = None, stats: bool = True) -> dict:
        change = source or migration_source(APP, "0002_change", operations, [(APP, "0001_initial")])
        packages.create(
            APP,
            {
                "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
                "0002_change": change,
            },
        )
        options = {"stats_file": str(stats_file)} if stats else {}
        call_command("bundlemigration", APP, "0002", verbosity=0, **options)
        return json.loads((bundle_root / APP / "0002_change" / "report.json").read_text())

    return report


def findings(report: dict, rule: str, direction: str | None = None) -> list[dict]:
    return [
        f
        for f in report["findings"]
        if f["rule"] == rule and (direction is None or f["direction"] == direction)
    ]


def assert_finding(
    report: dict,
    rule: str,
    *,
    severity: str | None = None,
    at_least: str | None = None,
    direction: str | None = None,
    statement: str | None = None,
    **flags,
) -> dict:
    matches = findings(report, rule, direction)
    if statement:
        matches = [f for f in matches if any(statement in s for s in f["statements"])]
    rules = sorted({f["rule"] for f in report["findings"]})
    assert matches, f"no {rule} finding (found: {rules})"
    finding = matches[0]
    order = ["info", "low", "medium", "high", "critical"]
    if severity:
        assert finding["severity"] == severity, finding
    if at_least:
        assert order.index(finding["severity"]) >= order.index(at_least), finding
    for key, value in flags.items():
        assert finding[key] == value, (key, finding)
    return finding


def assert_no_finding(report: dict, rule: str, direction: str | None = None) -> None:
    assert not findings(report, rule, direction), findings(report, rule, direction)


@pytest.fixture
def postgresql(vendor):
    if vendor != "postgresql":
        pytest.skip("PostgreSQL locking and rewrite rules")


@pytest.fixture
def sqlite(vendor):
    if vendor != "sqlite":
        pytest.skip("SQLite rebuild rules")


# -- rewrites -----------------------------------------------------------------------------------


def test_int_to_bigint_rewrites_the_table(report_of, postgresql) -> None:
    report = report_of([migrations.AlterField("book", "pages", models.BigIntegerField())])
    finding = assert_finding(
        report,
        "MS111",
        at_least="high",
        rewrite=True,
        rows=ROWS["roundtrip_book"],
        blocks_reads=True,
    )
    assert finding["estimated_seconds"] > 1
    assert report["risk"] in ("high", "critical")


@pytest.mark.parametrize(
    "field",
    [
        models.CharField(max_length=250),  # varchar widening
        models.TextField(),  # varchar -> text
    ],
    ids=["varchar-widening", "varchar-to-text"],
)
def test_binary_coercible_type_changes_are_not_rewrites(report_of, postgresql, field) -> None:
    report = report_of([migrations.AlterField("author", "name", field)])
    assert_no_finding(report, "MS111")
    lock = assert_finding(report, "MS101", severity="low")
    assert lock["estimated_seconds"] < 0.5


def test_varchar_narrowing_is_a_rewrite(report_of, postgresql) -> None:
    report = report_of([migrations.AlterField("author", "name", models.CharField(max_length=50))])
    assert_finding(report, "MS111", rewrite=True)


def test_volatile_default_rewrites_but_a_constant_one_does_not(report_of, postgresql) -> None:
    report = report_of(
        [
            migrations.RunSQL(
                "ALTER TABLE roundtrip_book ADD COLUMN token uuid "
                "DEFAULT gen_random_uuid() NOT NULL",
                reverse_sql="ALTER TABLE roundtrip_book DROP COLUMN token",
            ),
            migrations.AddField("book", "rating", models.IntegerField(default=3)),
        ]
    )
    assert_finding(report, "MS112", statement="gen_random_uuid", rewrite=True)
    assert not [f for f in findings(report, "MS112") if "rating" in " ".join(f["statements"])]


# -- scans --------------------------------------------------------------------------------------


def test_set_not_null_scans_and_backfills(report_of, postgresql) -> None:
    report = report_of(
        [
            migrations.AlterField("author", "email", models.CharField(max_length=100, default="")),
        ]
    )
    assert_finding(report, "MS121", scan=True, rows=ROWS["roundtrip_author"])
    assert_finding(report, "MS141", statement="UPDATE", rows=ROWS["roundtrip_author"])
    assert_finding(report, "MS151", breaks_old_code=True)


def test_backfill_of_the_null_rows_is_sized_by_the_null_fraction(
    packages, bundle_root, tmp_path, vendor
) -> None:
    """exportstats reads each column's NULL fraction and the index count of a table (PostgreSQL
    keeps the fraction in pg_stats after ANALYZE); Django's backfill before SET NOT NULL, ``UPDATE
    ... WHERE "email" IS NULL``, is then sized by the NULL rows, not the whole table. SQLite keeps
    no NULL fraction: the whole table, said to be an upper bound."""
    from io import StringIO

    from migration_studio.risk import estimate
    from migration_studio.risk.stats import from_file

    rows, every = (
        20_000,
        10,
    )  # ANALYZE samples 30,000 rows: it reads them all, the figures are exact
    production = tmp_path / "production-stats.json"
    with ScratchDatabase("default", use_cache=False) as scratch:
        scratch.create()
        with scratch.activated() as connection, connection.cursor() as cursor:
            cursor.execute(
                'CREATE TABLE "roundtrip_author" ("id" integer PRIMARY KEY, '
                '"name" varchar(100) NOT NULL, "email" varchar(100) NULL)'
            )
            cursor.execute('CREATE INDEX "author_name" ON "roundtrip_author" ("name")')
            numbers = (
                f"SELECT g FROM generate_series(1, {rows}) AS g"
                if connection.vendor == "postgresql"
                else f"WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n "
                f"WHERE g < {rows}) SELECT g FROM n"
            )
            cursor.execute(
                'INSERT INTO "roundtrip_author" ("id", "name", "email") '
                f"SELECT g, 'author ' || g, CASE WHEN g % {every} = 0 THEN NULL "
                f"ELSE 'a' || g || '@example.com' END FROM ({numbers}) AS numbers"
            )
            if connection.vendor == "postgresql":
                cursor.execute('ANALYZE "roundtrip_author"')
            call_command("exportstats", output=str(production), stderr=StringIO())
    exported = from_file(production)
    assert exported.rows("roundtrip_author") == rows
    assert json.loads(production.read_text())["format"] == 2
    # The primary key and "author_name" (SQLite's INTEGER PRIMARY KEY is the rowid, no index).
    indexes = 2 if vendor == "postgresql" else 1
    assert exported.indexes("roundtrip_author") == indexes
    if vendor != "postgresql":
        # And SQLite rebuilds the table for SET NOT NULL (INSERT ... SELECT COALESCE): no UPDATE.
        assert exported.null_fraction("roundtrip_author", "email") is None
        return
    assert exported.null_fraction("roundtrip_author", "email") == pytest.approx(1 / every)
    assert exported.null_fraction("roundtrip_author", "name") == 0

    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_change": migration_source(
                APP,
                "0002_change",
                [
                    migrations.AlterField(
                        "author", "email", models.CharField(max_length=100, default="")
                    )
                ],
                [(APP, "0001_initial")],
            ),
        },
    )
    call_command("bundlemigration", APP, "0002", verbosity=0, stats_file=str(production))
    report = json.loads((bundle_root / APP / "0002_change" / "report.json").read_text())
    backfill = findings(report, "MS141")
    assert len(backfill) == 1 and 'WHERE "email" IS NULL' in backfill[0]["statements"][0]
    finding = backfill[0]
    null_rows = rows // every
    assert finding["rows"] == null_rows
    assert finding["estimated_seconds"] == pytest.approx(
        estimate.backfill_seconds(rows, null_rows, indexes, "postgresql"), abs=0.001
    )
    whole_table = estimate.backfill_seconds(rows, rows, indexes, "postgresql")
    assert finding["estimated_seconds"] < whole_table / 5
    assert "(about 2,000 rows: the 10% of 20,000 whose email is NULL" in finding["message"]

    # Without the fraction (a stats file of format 1): the whole table, said to be at most.
    old = tmp_path / "old-stats.json"
    old.write_text(json.dumps({"format": 1, "tables": {"roundtrip_author": {"rows": rows}}}))
    again = analyse(load_bundle(bundle_root / APP / "0002_change"), from_file(old))
    unknown = next(f for f in again.findings if f.rule == "MS141")
    assert unknown.rows == rows
    assert unknown.estimated_seconds == pytest.approx(
        estimate.backfill_seconds(rows, rows, None, "postgresql")
    )
    assert "(up to 20,000 rows, up to about " in unknown.message
    assert "how many have email NULL is unknown" in unknown.message


def test_check_constraint_scans(report_of, postgresql) -> None:
    report = report_of(
        [
            migrations.AddConstraint(
                "book", models.CheckConstraint(condition=Q(pages__gte=0), name="pages_gte_0")
            )
        ]
    )
    assert_finding(report, "MS122", scan=True, rows=ROWS["roundtrip_book"], at_least="medium")


def test_foreign_key_on_existing_column_is_validated_unless_not_valid(
    report_of, postgresql
) -> None:
    fk = (
        "ALTER TABLE roundtrip_note ADD CONSTRAINT note_book_fk2 FOREIGN KEY (book_id) "
        "REFERENCES roundtrip_book (id)"
    )
    report = report_of(
        [
            migrations.RunSQL(
                fk, reverse_sql="ALTER TABLE roundtrip_note DROP CONSTRAINT note_book_fk2"
            ),
        ]
    )
    assert_finding(report, "MS123", scan=True, rows=ROWS["roundtrip_note"])
    assert_finding(
        report, "MS105", lock="SHARE ROW EXCLUSIVE", blocks_writes=True, blocks_reads=False
    )
    assert_finding(report, "MS102", lock="SHARE ROW EXCLUSIVE", tables=["roundtrip_book"])

    not_valid = report_of(
        [
            migrations.RunSQL(
                fk + " NOT VALID",
                reverse_sql="ALTER TABLE roundtrip_note DROP CONSTRAINT note_book_fk2",
            ),
        ]
    )
    assert_no_finding(not_valid, "MS123")


def test_nullable_foreign_key_added_with_its_column_does_not_scan(report_of, postgresql) -> None:
    report = report_of(
        [
            migrations.AddField(
                "book",
                "editor",
                models.ForeignKey(
                    "roundtrip.author", null=True, on_delete=models.SET_NULL, related_name="edited"
                ),
            )
        ]
    )
    assert_no_finding(report, "MS123")
    assert_no_finding(report, "MS111")
    assert_finding(report, "MS102", tables=["roundtrip_author"])


def test_unique_constraint_builds_an_index_under_access_exclusive(report_of, postgresql) -> None:
    report = report_of(
        [
            migrations.AddConstraint(
                "book",
                models.UniqueConstraint(fields=["author", "title"], name="uniq_author_title"),
            )
        ]
    )
    assert_finding(report, "MS124", lock="ACCESS EXCLUSIVE", at_least="high")


# -- indexes and locks --------------------------------------------------------------------------


def test_index_without_concurrently_blocks_writes_for_its_build(report_of, postgresql) -> None:
    report = report_of(
        [migrations.AlterField("book", "isbn", models.CharField(max_length=20, db_index=True))]
    )
    finding = assert_finding(
        report,
        "MS131",
        lock="SHARE",
        blocks_writes=True,
        blocks_reads=False,
        rows=ROWS["roundtrip_book"],
    )
    assert finding["estimated_seconds"] > 1
    assert_finding(report, "MS132", direction="reverse")


def test_concurrent_index_is_not_flagged(report_of, postgresql) -> None:
    source = """
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("roundtrip", "0001_initial")]
    operations = [AddIndexConcurrently("book", models.Index(fields=["isbn"], name="isbn_idx"))]
"""
    report = report_of(source=source)
    assert_no_finding(report, "MS131")
    assert_no_finding(report, "MS104")


def test_locks_accumulate_in_an_atomic_migration(report_of, postgresql) -> None:
    report = report_of(
        [
            migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True)),
            migrations.AddIndex("book", models.Index(fields=["title", "pages"], name="bk_tp_idx")),
        ]
    )
    finding = assert_finding(report, "MS104", tables=["roundtrip_book"], blocks_reads=True)
    assert finding["operation"] == 0  # the AddField's ADD COLUMN takes the lock
    assert finding["lock_seconds"] > 1
    assert "the index build on roundtrip_book" in finding["message"]
    [book] = [lock for lock in report["locks"] if lock["table"] == "roundtrip_book"]
    assert book["lock"] == "ACCESS EXCLUSIVE"
    assert book["reads_wait"]["seconds"] == finding["lock_seconds"]


def _connect(database: ScratchDatabase, *, autocommit: bool = True) -> psycopg.Connection:
    """A new session on the scratch PostgreSQL database ``database``."""
    params = database.connection.settings_dict
    return psycopg.connect(
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        dbname=params["NAME"],
        autocommit=autocommit,
    )


def assert_reads_wait_until_commit(up: Path, table: str, rows: str) -> None:
    """Replay ``up`` (a bundle's up.sql) on a scratch database at 0001 holding ``rows`` (an
    INSERT): its first statement locks ``table``, then a second session's SELECT of ``table`` is
    seen waiting for that lock while every later statement runs, and returns only after COMMIT."""
    statements = [
        s
        for s in split(up.read_text(), "postgresql")
        if first_word(s).upper() not in ("BEGIN", "COMMIT")
    ]
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, APP, "0001_initial")
        database.connection.close()
        connect = functools.partial(_connect, database)
        with connect() as setup:
            setup.execute("INSERT INTO roundtrip_author (id, name, age) VALUES (1, 'a', 1)")
            setup.execute(rows)
        with connect(autocommit=False) as migrating, connect() as reader:
            migrating.execute(statements[0])
            finished: list[float] = []
            thread = threading.Thread(
                target=lambda: (
                    reader.execute(f"SELECT count(*) FROM {table}").fetchone(),
                    finished.append(time.monotonic()),
                )
            )
            thread.start()
            waiting = (
                "SELECT count(*) FROM pg_stat_activity "
                f"WHERE wait_event_type = 'Lock' AND query = 'SELECT count(*) FROM {table}'"
            )
            with connect() as observer:
                deadline = time.monotonic() + 10
                while not observer.execute(waiting).fetchone()[0]:
                    assert time.monotonic() < deadline, "the SELECT never waited for the lock"
                    time.sleep(0.01)
            for statement in statements[1:]:
                migrating.execute(statement)
            assert not finished, "the SELECT ran while the migration's transaction was open"
            committed = time.monotonic()
            migrating.commit()
            thread.join(10)
        assert finished and finished[0] >= committed


BOOKS = (
    "INSERT INTO roundtrip_book (title, isbn, pages, author_id) "
    "SELECT 't' || i, 'i' || i, i, 1 FROM generate_series(1, 50000) AS i"
)


def test_reads_wait_for_the_index_build_of_a_foreign_key_field(
    report_of, bundle_root, postgresql
) -> None:
    """AddField of a ForeignKey: ADD COLUMN (ACCESS EXCLUSIVE), then its index is built in the
    same transaction. The report says reads wait for the build; replayed, a second session's
    SELECT waits until the COMMIT, after the build."""
    report = report_of(
        [
            migrations.AddField(
                "book",
                "editor",
                models.ForeignKey("roundtrip.author", models.SET_NULL, null=True, related_name="+"),
            )
        ]
    )
    held = assert_finding(report, "MS104", tables=["roundtrip_book"], blocks_reads=True)
    assert held["severity"] in ("high", "critical"), held  # 5M rows: seconds of blocked reads
    assert "the index build on roundtrip_book" in held["message"]
    build = assert_finding(report, "MS131", blocks_reads=True)
    assert "Reads wait as well" in build["message"]
    up = bundle_root / APP / "0002_change" / "up.sql"
    assert 'ALTER TABLE "roundtrip_book" ADD COLUMN "editor_id"' in up.read_text()
    assert_reads_wait_until_commit(up, "roundtrip_book", BOOKS)


def test_reads_wait_for_the_backfill_of_a_field_made_not_null(
    report_of, bundle_root, postgresql
) -> None:
    """AlterField from null=True to a NOT NULL field with a default: SET DEFAULT (ACCESS
    EXCLUSIVE), then the UPDATE of the NULL rows, then SET NOT NULL, in one transaction: reads
    wait for the backfill too (the UPDATE alone would let them through)."""
    report = report_of(
        [migrations.AlterField("author", "email", models.CharField(max_length=100, default=""))]
    )
    held = assert_finding(report, "MS104", tables=["roundtrip_author"], blocks_reads=True)
    assert "the UPDATE of roundtrip_author" in held["message"]
    backfill = assert_finding(report, "MS141", blocks_reads=True)
    assert "Reads wait as well" in backfill["message"]
    up = bundle_root / APP / "0002_change" / "up.sql"
    assert_reads_wait_until_commit(
        up,
        "roundtrip_author",
        "INSERT INTO roundtrip_author (id, name, email, age) "
        "SELECT i, 'n' || i, NULL, 0 FROM generate_series(2, 50000) AS i",
    )


def test_set_not_null_after_a_validated_check_does_not_scan(
    packages, bundle_root, stats_file, postgresql
) -> None:
    """A validated CHECK (email IS NOT NULL) from an earlier migration: PostgreSQL 12+ sets NOT
    NULL without reading the table, so MS121 stays quiet; PostgreSQL says so when asked."""
    check = models.CheckConstraint(condition=Q(email__isnull=False), name="author_email_set")
    earlier = [(APP, "0001_initial")]
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_check": migration_source(
                APP, "0002_check", [migrations.AddConstraint("author", check)], earlier
            ),
            "0003_not_null": migration_source(
                APP,
                "0003_not_null",
                [migrations.AlterField("author", "email", models.CharField(max_length=100))],
                [(APP, "0002_check")],
            ),
        },
    )
    call_command("bundlemigration", APP, "0003", verbosity=0, stats_file=str(stats_file))
    directory = bundle_root / APP / "0003_not_null"
    report = json.loads((directory / "report.json").read_text())
    assert_no_finding(report, "MS121")
    assert load_bundle(directory).operations[0].operation_facts.not_null_checked == ["email"]
    up = (directory / "up.sql").read_text()
    [set_not_null] = [s for s in split(up, "postgresql") if "SET NOT NULL" in s]

    def notices(at: str) -> list[str]:
        """PostgreSQL's debug messages for SET NOT NULL on a database at migration ``at``."""
        with ScratchDatabase("default", use_cache=False) as database:
            database.create()
            migrate(database, APP, at)
            database.connection.close()
            said: list[str] = []
            with _connect(database) as connection:
                connection.add_notice_handler(lambda notice: said.append(notice.message_primary))
                connection.execute("SET client_min_messages = debug1")
                connection.execute(set_not_null)
            return said

    proof = "sufficient to prove that it does not contain nulls"
    assert any(proof in notice for notice in notices("0002_check"))
    assert not any(proof in notice for notice in notices("0001_initial"))


def test_drop_table_locks_the_referenced_table(report_of, postgresql) -> None:
    report = report_of([migrations.DeleteModel("note")])
    assert_finding(report, "MS102", lock="ACCESS EXCLUSIVE", tables=["roundtrip_book"])
    assert_finding(report, "MS153", severity="critical", data_loss=True)


def test_tables_created_in_the_migration_are_not_flagged(report_of, postgresql) -> None:
    report = report_of(
        [
            migrations.CreateModel(
                "Review",
                [
                    ("id", models.BigAutoField(primary_key=True)),
                    ("book", models.ForeignKey("roundtrip.book", on_delete=models.CASCADE)),
                ],
            )
        ]
    )
    assert_no_finding(report, "MS131")
    assert_no_finding(report, "MS101")
    assert_finding(report, "MS102", tables=["roundtrip_book"])


# -- compatibility and data loss ----------------------------------------------------------------


def test_not_null_field_without_db_default_breaks_old_inserts(report_of, vendor) -> None:
    report = report_of([migrations.AddField("book", "rating", models.IntegerField(default=3))])
    assert_finding(report, "MS151", severity="high", breaks_old_code=True)
    with_db_default = report_of(
        [migrations.AddField("book", "rating", models.IntegerField(db_default=3))]
    )
    assert_no_finding(with_db_default, "MS151")


#: An INSERT of the previous release's code: it knows author and book, not the new column.
OLD_CODE_INSERT = (
    "INSERT INTO roundtrip_book (title, isbn, pages, author_id) VALUES ('Old', 'x', 1, 1)"
)


def database_with_a_book(database: ScratchDatabase) -> None:
    """``database`` at 0001 with one author and one book (a table with a row)."""
    database.create()
    migrate(database, APP, "0001_initial")
    with database.activated() as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO roundtrip_author (id, name, age) VALUES (1, 'A', 0)")
        cursor.execute(OLD_CODE_INSERT)
    database.connection.close()


def old_code_insert_error(database: ScratchDatabase) -> str | None:
    """The error the old code's INSERT gets from ``database`` (None if it succeeds)."""
    with database.activated() as connection:
        try:
            with connection.cursor() as cursor:
                cursor.execute(OLD_CODE_INSERT)
        except Exception as error:  # IntegrityError, as each driver words it
            return str(error)
        finally:
            database.connection.close()
    return None


def test_db_default_none_is_no_default(report_of, bundle_root, vendor) -> None:
    """db_default=None writes DEFAULT NULL: adding the NOT NULL column fails on a table with
    rows, and the report says so rather than calling the field safe for old code."""
    report = report_of(
        [migrations.AddField("book", "rating", models.IntegerField(db_default=None))]
    )
    finding = assert_finding(report, "MS151", severity="high", breaks_old_code=True)
    assert "adding it fails as soon as the table has a row" in finding["message"]
    assert report["risk"] in ("high", "critical")
    with ScratchDatabase("default", use_cache=False) as database:
        database_with_a_book(database)
        error = sql_file_error(database, bundle_root / APP / "0002_change" / "up.sql")
    assert error is not None, "ADD COLUMN NOT NULL DEFAULT NULL succeeded on a table with a row"
    assert "null" in error.lower(), error


@pytest.mark.parametrize("how", ["AlterField", "RunSQL"])
def test_default_set_later_in_the_migration_protects_old_inserts(
    report_of, bundle_root, vendor, how
) -> None:
    if how == "RunSQL" and vendor != "postgresql":
        pytest.skip("SQLite has no ALTER COLUMN ... SET DEFAULT")
    later = (
        migrations.AlterField("book", "rating", models.IntegerField(db_default=3))
        if how == "AlterField"
        else migrations.RunSQL(
            'ALTER TABLE "roundtrip_book" ALTER COLUMN "rating" SET DEFAULT 3',
            'ALTER TABLE "roundtrip_book" ALTER COLUMN "rating" DROP DEFAULT',
        )
    )
    report = report_of(
        [migrations.AddField("book", "rating", models.IntegerField(default=3)), later]
    )
    assert_no_finding(report, "MS151")
    # Replayed: after up.sql, the old code's INSERT gets the default.
    with ScratchDatabase("default", use_cache=False) as database:
        database_with_a_book(database)
        run_sql_file(database, bundle_root / APP / "0002_change" / "up.sql")
        assert old_code_insert_error(database) is None
    # Without the later statement the finding stands, and the INSERT does fail.
    report = report_of([migrations.AddField("book", "rating", models.IntegerField(default=3))])
    assert_finding(report, "MS151", breaks_old_code=True)
    with ScratchDatabase("default", use_cache=False) as database:
        database_with_a_book(database)
        run_sql_file(database, bundle_root / APP / "0002_change" / "up.sql")
        assert old_code_insert_error(database) is not None


def test_check_requiring_a_column_old_code_leaves_null_breaks_its_inserts(
    report_of, bundle_root, vendor
) -> None:
    """author.email is nullable without a default: the old model leaves it NULL."""
    report = report_of(
        [
            migrations.AddConstraint(
                "author",
                models.CheckConstraint(condition=Q(email__isnull=False), name="author_email_set"),
            )
        ]
    )
    finding = assert_finding(report, "MS160", severity="high", breaks_old_code=True)
    assert "requires email IS NOT NULL" in finding["message"]
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, APP, "0001_initial")
        run_sql_file(database, bundle_root / APP / "0002_change" / "up.sql")
        with database.activated() as connection:
            with (
                pytest.raises(IntegrityError, match="author_email_set"),
                connection.cursor() as cursor,
            ):
                cursor.execute("INSERT INTO roundtrip_author (name, age) VALUES ('Old', 0)")
            database.connection.close()
    # A check that NULL may pass (an OR) is not reported.
    report = report_of(
        [
            migrations.AddConstraint(
                "author",
                models.CheckConstraint(
                    condition=Q(email__isnull=False) | Q(age__gte=0), name="author_email_or_age"
                ),
            )
        ]
    )
    assert_no_finding(report, "MS160")


def test_dropped_column_and_renames(report_of, vendor) -> None:
    report = report_of(
        [
            migrations.RemoveField("author", "email"),
            migrations.RenameField("book", "pages", "page_count"),
        ]
    )
    assert_finding(report, "MS152", data_loss=True, breaks_old_code=True, severity="high")
    assert_finding(report, "MS154", breaks_old_code=True)


def test_callable_default_is_evaluated_once(report_of, vendor) -> None:
    report = report_of([migrations.AddField("book", "token", models.UUIDField(default=uuid.uuid4))])
    finding = assert_finding(report, "MS155")
    assert "uuid4" in finding["message"]


def test_rollback_findings(report_of, vendor) -> None:
    report = report_of(
        [
            migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True)),
            migrations.RemoveField("book", "pages"),  # NOT NULL, no default
        ]
    )
    assert_finding(report, "MS156", direction="reverse", data_loss_on_rollback=True)
    assert_finding(
        report, "MS157", direction="reverse", severity="high", rows=ROWS["roundtrip_book"]
    )
    # With a default (author.age has default=0) the rollback can re-add the column.
    assert_no_finding(report_of([migrations.RemoveField("author", "age")]), "MS157")


def test_python_steps_and_mixing(report_of, vendor) -> None:
    source = """
from django.db import migrations, models


def fill(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True)),
        migrations.RunPython(fill),
    ]
"""
    report = report_of(source=source)
    assert_finding(report, "MS142", operation=1)
    assert_finding(report, "MS144")
    assert_finding(report, "MS145", data_loss_on_rollback=True)


def test_runpython_noop_both_ways_is_not_a_data_step(report_of, bundle_root, vendor) -> None:
    """RunPython(noop, noop) does nothing: no data-step findings, no Python block in the SQL files,
    and validatemigration proves the bundle with nothing left to run through Django."""
    source = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True)),
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),
    ]
"""
    report = report_of(source=source)
    for rule in ("MS142", "MS144", "MS145"):
        assert_no_finding(report, rule)
    assert_no_finding(report, "MS147", "reverse")
    bundle_path = bundle_root / APP / "0002_change"
    assert "NOT EXPRESSIBLE" not in (bundle_path / "up.sql").read_text()
    assert load_bundle(bundle_path).reversible
    call_command("validatemigration", APP, "0002", verbosity=0)
    assert json.loads((bundle_path / "validation.json").read_text())["status"] == "passed"


def test_data_steps_whose_reverse_is_a_noop_are_in_the_rollback_plan(
    report_of, bundle_root, vendor
) -> None:
    source = """
from django.db import migrations


def fill(apps, schema_editor):
    apps.get_model("roundtrip", "Book").objects.update(isbn="0")


def unfill(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunSQL("UPDATE roundtrip_author SET age = 0", migrations.RunSQL.noop),
        migrations.RunPython(fill, unfill),
        migrations.RunSQL(
            "UPDATE roundtrip_author SET age = 1", "UPDATE roundtrip_author SET age = 2"
        ),
    ]
"""
    report = report_of(source=source)
    found = {f["operation"]: f for f in findings(report, "MS147", "reverse")}
    assert sorted(found) == [0, 1], found  # not the RunPython and RunSQL with a real reverse
    python, sql = found[0], found[1]
    assert python["severity"] == sql["severity"] == "low"
    assert python["data_loss_on_rollback"] and sql["data_loss_on_rollback"]
    assert "RunPython.noop" in python["message"] and "roundtrip_author" in sql["message"]
    plan = _rollback_plan(bundle_root)
    cannot = plan.split("## What a rollback cannot bring back", 1)[1].split("\n## ", 1)[0]
    assert python["message"] in cannot and sql["message"] in cannot, plan
    assert "restores the schema, not the data" in cannot


# -- SQLite ----------------------------------------------------------------------------------------


def test_sqlite_rebuild_is_a_copy_not_a_dropped_table(report_of, sqlite) -> None:
    report = report_of([migrations.AddField("book", "rating", models.IntegerField(default=3))])
    finding = assert_finding(report, "MS114", rows=ROWS["roundtrip_book"], rewrite=True)
    assert finding["estimated_seconds"] > 1
    assert_no_finding(report, "MS153")
    assert not [f for f in findings(report, "MS156") if "table roundtrip_book" in f["message"]]
    assert_no_finding(report, "MS101")  # PostgreSQL's lock rules do not apply


# -- acknowledgements, sizes, outputs -------------------------------------------------------------


def test_acknowledged_findings_stay_visible_but_do_not_count(
    report_of, bundle_root, postgresql
) -> None:
    source = """
from django.db import migrations, models


class Migration(migrations.Migration):
    migration_studio_acknowledge = {"MS111": "runs in the maintenance window"}
    dependencies = [("roundtrip", "0001_initial")]
    operations = [migrations.AlterField("book", "pages", models.BigIntegerField())]
"""
    report = report_of(source=source)
    finding = assert_finding(report, "MS111")
    assert finding["acknowledged"] == "runs in the maintenance window"
    order = ["info", "low", "medium", "high", "critical"]
    counted = [f["severity"] for f in report["findings"] if not f["acknowledged"]]
    assert report["risk"] == max(counted, key=order.index)
    assert report["counts"][finding["severity"]] == counted.count(finding["severity"])
    readme = (bundle_root / APP / "0002_change" / "README.md").read_text()
    assert "MS111" in readme and "runs in the maintenance window" in readme


def test_an_unknown_acknowledged_rule_id_is_a_warning(packages, bundle_root, vendor) -> None:
    source = """
from django.db import migrations, models


class Migration(migrations.Migration):
    migration_studio_acknowledge = {"MS999": "typo", "MS142": "reviewed"}
    dependencies = [("roundtrip", "0001_initial")]
    operations = [migrations.AddField("book", "remark", models.TextField(null=True))]
"""
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_change": source,
        },
    )
    err = io.StringIO()
    call_command("bundlemigration", APP, "0002", stderr=err, verbosity=1)
    assert "roundtrip.0002_change acknowledges MS999 in migration_studio_acknowledge" in (
        err.getvalue()
    )
    assert "MS142" not in err.getvalue()  # a real rule id, even with nothing to acknowledge
    quiet = io.StringIO()
    call_command("bundlemigration", APP, "0002", stderr=quiet, verbosity=0)
    assert quiet.getvalue() == ""


def test_sizes_unknown_without_stats(report_of, postgresql) -> None:
    report = report_of(
        [migrations.AlterField("book", "pages", models.BigIntegerField())], stats=False
    )
    finding = assert_finding(report, "MS111")
    assert finding["rows"] is None and finding["estimated_seconds"] is None
    assert report["stats_source"] == "none"


def test_bundle_has_report_rollback_plan_and_risk_section(report_of, bundle_root, vendor) -> None:
    report = report_of([migrations.RemoveField("author", "email")])
    path = bundle_root / APP / "0002_change"
    assert report["format_version"] == 1 and report["risk"] == "high"
    readme = (path / "README.md").read_text()
    assert "## Risk" in readme and "**Overall risk: HIGH**" in readme
    order = ["none", "info", "low", "medium", "high", "critical"]

    def worst(direction: str) -> str:
        found = [
            f["severity"]
            for f in report["findings"]
            if (f["direction"] == "reverse") == (direction == "reverse") and not f["acknowledged"]
        ]
        return max(found, key=order.index, default="none")

    assert (report["forward_risk"], report["rollback_risk"]) == (worst("forward"), worst("reverse"))
    assert report["risk"] == max(report["forward_risk"], report["rollback_risk"], key=order.index)
    assert (
        f"Deploying (`up.sql`): **{report['forward_risk']}**; rolling back (`down.sql`): "
        f"**{report['rollback_risk']}**." in readme
    )
    plan = (path / "rollback-plan.md").read_text()
    assert "python manage.py migrate roundtrip 0001_initial" in plan
    assert "roundtrip_author.email" in plan  # the data a rollback cannot bring back


def test_terminal_table_respects_no_color(packages, bundle_root, stats_file, vendor) -> None:
    from io import StringIO

    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_change": migration_source(
                APP,
                "0002_change",
                [migrations.RemoveField("author", "email")],
                [(APP, "0001_initial")],
            ),
        },
    )
    out = StringIO()
    call_command(
        "bundlemigration", APP, "0002", stats_file=str(stats_file), stdout=out, no_color=True
    )
    assert "risk: HIGH" in out.getvalue() and "MS152" in out.getvalue()
    assert "\x1b[" not in out.getvalue()
    colored = StringIO()
    call_command(
        "bundlemigration", APP, "0002", stats_file=str(stats_file), stdout=colored, force_color=True
    )
    assert "\x1b[" in colored.getvalue()


def test_stats_from_a_database_and_exportstats(tmp_path) -> None:
    from io import StringIO

    from migration_studio.risk.stats import from_database, from_file
    from migration_studio.scratch.database import ScratchDatabase

    with ScratchDatabase("default", use_cache=False) as scratch:
        scratch.create()
        with scratch.activated() as connection:
            with connection.cursor() as cursor:
                cursor.execute("CREATE TABLE sized (id integer)")
                cursor.execute(
                    "INSERT INTO sized SELECT 1 FROM (SELECT 1 UNION ALL SELECT 2) a, "
                    "(SELECT 1 UNION ALL SELECT 2) b"
                )
                if connection.vendor == "postgresql":
                    cursor.execute("ANALYZE sized")
            stats = from_database("default")
            out = tmp_path / "stats.json"
            call_command("exportstats", output=str(out), stderr=StringIO())
            shown = StringIO()
            call_command("exportstats", stdout=shown)
    assert stats.rows("sized") == 4
    assert from_file(out).rows("sized") == 4
    assert json.loads(shown.getvalue())["tables"]["sized"]["rows"] == 4


def test_bad_stats_file_is_one_clear_error(packages, tmp_path) -> None:
    from django.core.management.base import CommandError

    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
        },
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CommandError, match="is not valid"):
        call_command("bundlemigration", APP, "0001", stats_file=str(broken), verbosity=0)
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "bundlemigration", APP, "0001", stats_file=str(tmp_path / "nope.json"), verbosity=0
        )


def test_analysis_of_50_operations_against_large_stats_is_fast(
    packages, bundle_root, vendor
) -> None:
    operations = []
    for i in range(10):
        operations += [
            migrations.AddField("book", f"extra{i}", models.IntegerField(default=i)),
            migrations.AlterField("book", f"extra{i}", models.BigIntegerField(default=i)),
            migrations.AddIndex("book", models.Index(fields=[f"extra{i}"], name=f"ex{i}_idx")),
            migrations.AddField("author", f"note{i}", models.CharField(max_length=9, null=True)),
            migrations.RemoveField("author", f"note{i}"),
        ]
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_change": migration_source(
                APP, "0002_change", operations, [(APP, "0001_initial")]
            ),
        },
    )
    call_command("bundlemigration", APP, "0002", verbosity=0)
    bundle = load_bundle(bundle_root / APP / "0002_change")
    assert len(bundle.operations) == 50
    stats = Stats(
        {f"table_{i}": TableStats(10_000_000 + i) for i in range(5_000)}
        | {name: TableStats(rows) for name, rows in ROWS.items()}
    )
    from migration_studio.sql.reader import parse

    parse.cache_clear()
    started = time.perf_counter()
    report = analyse(bundle, stats)
    elapsed = time.perf_counter() - started
    print(f"analysis of 50 operations: {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0, f"analysis took {elapsed:.2f}s"
    assert report.findings


def test_identity_and_stored_generated_columns_rewrite(report_of, postgresql) -> None:
    report = report_of(
        [
            migrations.AddField(
                "book",
                "doubled",
                models.GeneratedField(
                    expression=models.F("pages") * 2,
                    output_field=models.IntegerField(),
                    db_persist=True,
                ),
            ),
        ]
    )
    assert_finding(report, "MS112", rewrite=True, rows=ROWS["roundtrip_book"])


def test_dropping_an_index_locks_no_other_table(report_of, postgresql) -> None:
    report = report_of([migrations.AlterField("book", "title", models.CharField(max_length=200))])
    assert_finding(report, "MS132", tables=["roundtrip_book"])
    assert_no_finding(report, "MS102")


def test_unique_column_is_an_index_build_not_a_rewrite(report_of, postgresql) -> None:
    report = report_of(
        [migrations.AddField("author", "slug", models.SlugField(null=True, unique=True))]
    )
    assert_finding(report, "MS124", statement="UNIQUE")
    assert_no_finding(report, "MS112")


def test_lock_timeout_set_by_the_migration_silences_its_rule(report_of, postgresql) -> None:
    change = [migrations.RemoveField("author", "email")]
    assert_finding(report_of(change), "MS103")
    timed = report_of(
        [migrations.RunSQL("SET lock_timeout = '2s'", migrations.RunSQL.noop), *change]
    )
    assert_no_finding(timed, "MS103")


def test_removed_unique_field_rebuilt_away_on_sqlite_is_still_data_loss(report_of, sqlite) -> None:
    report = report_of([migrations.RemoveField("book", "author")])
    assert_finding(report, "MS152", data_loss=True, breaks_old_code=True)


def test_acknowledging_every_finding_leaves_no_risk(report_of, vendor) -> None:
    first = report_of([migrations.RemoveField("author", "email")])
    assert first["risk"] != "none"
    acknowledged = {f["rule"]: "reviewed" for f in first["findings"]}
    source = f"""
from django.db import migrations


class Migration(migrations.Migration):
    migration_studio_acknowledge = {acknowledged!r}
    dependencies = [("roundtrip", "0001_initial")]
    operations = [migrations.RemoveField("author", "email")]
"""
    second = report_of(source=source)
    assert second["risk"] == "none"
    assert len(second["findings"]) == len(first["findings"])
    assert all(f["acknowledged"] == "reviewed" for f in second["findings"])


def test_project_rules_and_disabled_rules(report_of, settings, vendor) -> None:
    settings.MIGRATION_STUDIO = {
        **settings.MIGRATION_STUDIO,
        "RULES": ["tests.custom_rules.NoTagTable"],
        "DISABLED_RULES": ["MS152"],
    }
    report = report_of(
        [
            migrations.RemoveField("author", "email"),
            migrations.AlterField("tag", "name", models.CharField(max_length=80)),
        ]
    )
    assert_finding(report, "ACME001", severity="high", operation=1)
    assert_no_finding(report, "MS152")
    assert "ACME001" in report["rules"] and "MS152" not in report["rules"]


def test_server_version_changes_the_verdict(report_of, bundle_root, postgresql) -> None:
    """A constant default is metadata-only from PostgreSQL 11; before, it rewrote the table."""
    report_of([migrations.AddField("book", "rating", models.IntegerField(default=3))])
    bundle = load_bundle(bundle_root / APP / "0002_change")
    stats = Stats({name: TableStats(rows) for name, rows in ROWS.items()})
    assert not [f for f in analyse(bundle, stats).findings if f.rule == "MS112"]
    bundle.server_version = "10.23"
    old = [f for f in analyse(bundle, stats).findings if f.rule == "MS112"]
    assert old and old[0].rewrite and old[0].rows == ROWS["roundtrip_book"]


def test_primary_key_type_change_rewrites_referencing_tables(report_of, postgresql) -> None:
    report = report_of([migrations.AlterField("author", "id", models.AutoField(primary_key=True))])
    finding = assert_finding(report, "MS113", rewrite=True, blocks_reads=True)
    assert finding["tables"] == ["roundtrip_book"]
    assert_finding(report, "MS111", statement='ALTER TABLE "roundtrip_book"')


# -- names --------------------------------------------------------------------------------------

LONG_COLUMN = "delivery_instructions_for_the_courier_when_nobody_is_at_home_to_sign_x"


def test_identifier_over_63_bytes_is_reported_with_the_name_postgresql_keeps(
    postgresql, report_of, bundle_root
) -> None:
    report = report_of(
        [
            migrations.AddField(
                "book", "instructions", models.TextField(null=True, db_column=LONG_COLUMN)
            )
        ]
    )
    finding = assert_finding(report, "MS158", direction="forward", severity="medium")
    kept = LONG_COLUMN.encode()[:63].decode()
    assert f"{LONG_COLUMN} becomes {kept}" in finding["message"]
    assert_finding(report, "MS158", direction="reverse")
    # The server really keeps the cut name: after up.sql the column exists under it.
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, APP, "0001_initial")
        run_sql_file(database, bundle_root / APP / "0002_change" / "up.sql")
        with database.activated() as connection, connection.cursor() as cursor:
            columns = connection.introspection.get_table_description(cursor, "roundtrip_book")
    assert kept in {column.name for column in columns}


def test_identifier_of_63_bytes_is_not_reported(postgresql, report_of) -> None:
    report = report_of(
        [
            migrations.AddField(
                "book", "instructions", models.TextField(null=True, db_column="x" * 63)
            )
        ]
    )
    assert_no_finding(report, "MS158")


# -- the rollback narrows a column type --------------------------------------------------------


@contextmanager
def applied_with_a_book(bundle_root: Path, **book: object) -> Iterator[ScratchDatabase]:
    """A scratch database at 0001, then up.sql of 0002, holding one book with ``book``'s values
    (the rows written after the deploy); dropped on exit."""
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, APP, "0001_initial")
        run_sql_file(database, bundle_root / APP / "0002_change" / "up.sql")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute("INSERT INTO roundtrip_author (name, age) VALUES ('a', 1) RETURNING id")
            author = cursor.fetchone()[0]
            values = {"title": "t", "isbn": "i", "pages": 1, **book}
            cursor.execute(
                "INSERT INTO roundtrip_book (title, isbn, pages, author_id) "
                "VALUES (%s, %s, %s, %s)",
                [values["title"], values["isbn"], values["pages"], author],
            )
        database.connection.close()
        yield database


def _rollback_plan(bundle_root: Path) -> str:
    return (bundle_root / APP / "0002_change" / "rollback-plan.md").read_text()


def test_rollback_to_a_shorter_varchar_cuts_the_values_written_since(
    postgresql, report_of, bundle_root
) -> None:
    report = report_of([migrations.AlterField("book", "title", models.TextField())])
    finding = assert_finding(
        report, "MS159", direction="reverse", severity="high", data_loss_on_rollback=True
    )
    assert (
        "roundtrip_book.title from text back to varchar(200)" in finding["message"]
        and "longer than 200 characters are cut to 200" in finding["message"]
    ), finding["message"]
    assert_no_finding(report, "MS159", direction="forward")
    plan = _rollback_plan(bundle_root)
    cannot = plan.split("## What a rollback cannot bring back", 1)[1].split("\n## ", 1)[0]
    assert finding["message"] in cannot and "Nothing found" not in cannot, plan
    # What PostgreSQL really does: down.sql runs, and the 400-character title is cut to 200.
    with applied_with_a_book(bundle_root, title="x" * 400) as database:
        run_sql_file(database, bundle_root / APP / "0002_change" / "down.sql")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT length(title) FROM roundtrip_book")
            assert cursor.fetchone()[0] == 200


def test_rollback_to_integer_fails_on_a_bigint_value(postgresql, report_of, bundle_root) -> None:
    report = report_of([migrations.AlterField("book", "pages", models.BigIntegerField())])
    finding = assert_finding(
        report, "MS159", direction="reverse", severity="high", data_loss_on_rollback=True
    )
    assert "from bigint back to integer" in finding["message"]
    assert "(integer out of range)" in finding["message"]
    assert finding["message"] in _rollback_plan(bundle_root)
    with (
        applied_with_a_book(bundle_root, pages=3_000_000_000) as database,
        pytest.raises(AssertionError, match="integer out of range"),
    ):
        run_sql_file(database, bundle_root / APP / "0002_change" / "down.sql")


def test_rollback_that_widens_is_not_reported(report_of) -> None:
    report = report_of([migrations.AlterField("book", "title", models.CharField(max_length=100))])
    assert_no_finding(report, "MS159")


# -- SQLite unique index ------------------------------------------------------------------------


def test_sqlite_unique_index_on_existing_rows_fails_on_duplicates(
    report_of, bundle_root, sqlite
) -> None:
    """MS133's claim replayed: up.sql on a table holding duplicates fails."""
    unique = models.UniqueConstraint("isbn", name="book_isbn_uniq")
    report = report_of([migrations.AddConstraint("book", unique)])
    assert_finding(report, "MS133", statement="CREATE UNIQUE INDEX", blocks_writes=True)
    with ScratchDatabase("default", use_cache=False) as database:
        database.create()
        migrate(database, APP, "0001_initial")
        with database.activated() as connection, connection.cursor() as cursor:
            cursor.execute("INSERT INTO roundtrip_author (name, age) VALUES ('a', 1)")
            for _ in range(2):
                cursor.execute(
                    "INSERT INTO roundtrip_book (title, isbn, pages, author_id) "
                    "VALUES ('t', 'same', 1, 1)"
                )
        with pytest.raises(AssertionError, match="UNIQUE constraint failed"):
            run_sql_file(database, bundle_root / APP / "0002_change" / "up.sql")


def test_not_valid_then_validate_in_one_migration(report_of, postgresql) -> None:
    """Django's own operations, as PostgreSQL runs them: the ADD's lock is held through VALIDATE."""
    add = (
        'ALTER TABLE "roundtrip_book" ADD CONSTRAINT "pages_gte_0" CHECK ("pages" >= 0) NOT VALID'
    )
    validate = 'ALTER TABLE "roundtrip_book" VALIDATE CONSTRAINT "pages_gte_0"'
    drop = 'ALTER TABLE "roundtrip_book" DROP CONSTRAINT "pages_gte_0"'
    report = report_of([migrations.RunSQL(add, drop), migrations.RunSQL(validate, "")])
    assert_finding(report, "MS125", lock="ACCESS EXCLUSIVE", operation=1, scan=True)
    # In two migrations (the safe recipe), the first one alone is not reported.
    assert_no_finding(report_of([migrations.RunSQL(add, drop)]), "MS125")
