#!/usr/bin/env python
"""How close are migration_studio's duration estimates to what the statements really take?

The risk analysis estimates a statement's duration from its table's row count
(``migration_studio.risk.estimate.seconds(kind, rows, vendor) = OVERHEAD + rows / rate[kind]``).
This script creates its own PostgreSQL database (``ms_estimate_bench_<random>``) with a realistic
1,000,000-row table, runs the statements Django's schema editor runs for each kind of work (an
index build, a table rewrite, a validating scan, a foreign key validation, a backfill UPDATE, a
table copy), each in a transaction that is rolled back, and prints the median measured duration
next to the estimate. The database is dropped at the end, also on errors, Ctrl-C and SIGTERM
(unless ``--keep``). ``--sqlite`` adds the same measurement on a SQLite file for the kinds SQLite
migrations do (index builds, the table copies of Django's rebuilds, backfills).

Target: every estimate within 3x of the measured duration. The database's lifecycle, the
statistics and the table are ``harness.py``'s (beside this script). Run
``python benchmarks/estimate_accuracy.py --help`` for the options; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from harness import (
    EXIT_FAILED,
    EXIT_USAGE,
    BenchmarkError,
    Cleanup,
    Column,
    PostgresServer,
    database_name,
    exit_status,
    format_table,
    median,
    ratio,
    run_main,
    temporary_directory,
    within,
)

DEFAULT_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DATABASE_PREFIX = "ms_estimate_bench_"
TARGET_RATIO = 3.0

#: The measured table, and the two tables its foreign keys reference: a small one (1,000 rows) and
#: one a tenth of its size.
TABLE = "bench_order"
CUSTOMERS = "bench_customer"
CUSTOMER_ROWS = 1000
PRODUCTS = "bench_product"
COLUMNS = (
    "id",
    "name",
    "quantity",
    "price",
    "created_at",
    "customer_id",
    "product_id",
    "note",
    "discount",
)
COLUMN_NAMES = ", ".join(f'"{column}"' for column in COLUMNS)

#: Every tenth row of bench_order has no discount (NULL): the backfill of a column 10% NULL.
DISCOUNT_NULL_EVERY = 10

#: (kind, rows of the table, rows the statement changes, indexes on the table, vendor) -> seconds.
Estimator = Callable[[str, int, int, int, str], float]


@dataclass
class Case:
    """One statement to time: ``sql`` runs after the untimed ``setup`` in the same transaction."""

    kind: str
    label: str
    sql: str
    setup: tuple[str, ...] = ()
    #: Run after the rollback (outside the transaction), e.g. to vacuum away dead rows.
    after: tuple[str, ...] = ()
    #: For an UPDATE ... WHERE column IS NULL: the column, whose NULL fraction (as the statistics
    #: give it) tells the rows changed; None: every row.
    null_column: str | None = None
    #: Indexes the setup adds (negative: drops) to those of the table.
    added_indexes: int = 0


@dataclass
class Result:
    vendor: str
    case: Case
    #: The rows the statement changes as the estimate sees them (for a backfill WHERE column IS
    #: NULL: the table's rows times the column's NULL fraction).
    rows: int
    estimate: float
    runs: list[float] = field(default_factory=list)

    @property
    def actual(self) -> float:
        return median(self.runs)

    @property
    def ratio(self) -> float:
        return ratio(self.estimate, self.actual)

    @property
    def within_target(self) -> bool:
        return within(self.ratio, TARGET_RATIO)


# -- migration_studio's estimate ---------------------------------------------------------------


def load_estimator() -> Estimator:
    """``migration_studio.risk.estimate.seconds`` and ``backfill_seconds`` (of the installed
    package: in the project's ``.venv``, this checkout), with Django configured."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(INSTALLED_APPS=["migration_studio"], DATABASES={})
        django.setup()
    from migration_studio.risk import estimate

    def seconds(kind: str, rows: int, changed: int, indexes: int, vendor: str) -> float:
        if kind == "backfill":
            return estimate.backfill_seconds(rows, changed, indexes, vendor)
        value = estimate.seconds(kind, rows, vendor)
        assert value is not None
        return value

    return seconds


# -- PostgreSQL --------------------------------------------------------------------------------


def product_rows(rows: int) -> int:
    return max(rows // 10, 1)


def postgresql_schema(rows: int) -> list[str]:
    """The tables as Django creates them (a ForeignKey column gets an index), with their data.

    The indexes are built after loading: the table and its indexes are compact, as after a restore,
    and ``VACUUM FULL`` brings them back to the same state after a rolled-back backfill.
    """
    referenced = [
        f'CREATE TABLE "{name}" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS '
        'IDENTITY, "name" varchar(100) NOT NULL)'
        for name in (CUSTOMERS, PRODUCTS)
    ]
    return [
        *referenced,
        f'CREATE TABLE "{TABLE}" ('
        '"id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, '
        '"name" varchar(100) NOT NULL, '
        '"quantity" integer NOT NULL, '
        '"price" numeric(12, 2) NOT NULL, '
        '"created_at" timestamp with time zone NULL, '
        '"customer_id" bigint NOT NULL, '
        '"product_id" bigint NOT NULL, '
        '"note" varchar(100) NULL, '
        '"discount" integer NULL)',
        f'INSERT INTO "{CUSTOMERS}" ("name") '
        f"SELECT 'customer ' || g FROM generate_series(1, {CUSTOMER_ROWS}) AS g",
        f'INSERT INTO "{PRODUCTS}" ("name") '
        f"SELECT 'product ' || g FROM generate_series(1, {product_rows(rows)}) AS g",
        # Random-looking names, quantities and references, so that index builds really sort.
        f'INSERT INTO "{TABLE}" ({COLUMN_NAMES}) '
        "SELECT g, 'order ' || md5(g::text) || ' ' || (g % 997), "
        "(g::bigint * 7919) % 100000, ((g::bigint * 31) % 1000000) / 100.0, "
        "now() - (g % 100000) * interval '1 minute', "
        f"1 + (g::bigint * 7) % {CUSTOMER_ROWS}, "
        f"1 + (g::bigint * 7919) % {product_rows(rows)}, NULL, "
        f"CASE WHEN g % {DISCOUNT_NULL_EVERY} = 0 THEN NULL ELSE g % 50 END "
        f"FROM generate_series(1, {rows}) AS g",
        f'CREATE INDEX "{TABLE}_customer_id_idx" ON "{TABLE}" ("customer_id")',
        f'CREATE INDEX "{TABLE}_product_id_idx" ON "{TABLE}" ("product_id")',
    ]


def postgresql_cases(rows: int) -> list[Case]:
    """What Django runs for each kind of work (see ``OperationContext.action_work``)."""
    # A rolled-back UPDATE leaves a dead version of every row and bloated indexes: rebuild.
    restore = (f'VACUUM (FULL) "{TABLE}"', f'VACUUM (FREEZE, ANALYZE) "{TABLE}"')
    return [
        Case("index", "CREATE INDEX (name varchar(100))",
             f'CREATE INDEX "{TABLE}_name_idx" ON "{TABLE}" ("name")'),
        Case("index", "CREATE INDEX (name varchar_pattern_ops)",
             f'CREATE INDEX "{TABLE}_name_like" ON "{TABLE}" ("name" varchar_pattern_ops)'),
        Case("index", "CREATE INDEX (quantity integer)",
             f'CREATE INDEX "{TABLE}_quantity_idx" ON "{TABLE}" ("quantity")'),
        Case("rewrite", "ALTER COLUMN quantity TYPE bigint",
             f'ALTER TABLE "{TABLE}" ALTER COLUMN "quantity" TYPE bigint '
             'USING "quantity"::bigint'),
        Case("rewrite", "ADD COLUMN token uuid DEFAULT gen_random_uuid()",
             f'ALTER TABLE "{TABLE}" ADD COLUMN "token" uuid DEFAULT gen_random_uuid() NOT NULL'),
        Case("scan", "ALTER COLUMN created_at SET NOT NULL",
             f'ALTER TABLE "{TABLE}" ALTER COLUMN "created_at" SET NOT NULL'),
        Case("scan", "ADD CONSTRAINT CHECK (quantity >= 0)",
             f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_quantity_check" '
             'CHECK ("quantity" >= 0)'),
        Case("validate_fk", f"ADD FOREIGN KEY (customer_id), {CUSTOMER_ROWS:,} rows",
             f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_customer_id_fk" '
             f'FOREIGN KEY ("customer_id") REFERENCES "{CUSTOMERS}" ("id") '
             "DEFERRABLE INITIALLY DEFERRED"),
        Case("validate_fk", f"ADD FOREIGN KEY (product_id), {product_rows(rows):,} rows",
             f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_product_id_fk" '
             f'FOREIGN KEY ("product_id") REFERENCES "{PRODUCTS}" ("id") '
             "DEFERRABLE INITIALLY DEFERRED"),
        Case("backfill", "UPDATE SET note = 'x' WHERE note IS NULL (all NULL)",
             f'UPDATE "{TABLE}" SET "note" = \'x\' WHERE "note" IS NULL', after=restore,
             null_column="note"),
        Case("backfill", "UPDATE SET note = 'x', 2 indexes dropped",
             f'UPDATE "{TABLE}" SET "note" = \'x\'', after=restore, added_indexes=-2,
             setup=(f'DROP INDEX "{TABLE}_customer_id_idx"',
                    f'DROP INDEX "{TABLE}_product_id_idx"')),
        Case("backfill", "UPDATE SET note = 'x', 3 indexes added",
             f'UPDATE "{TABLE}" SET "note" = \'x\'', after=restore, added_indexes=3,
             setup=tuple(f'CREATE INDEX "{TABLE}_{column}_idx" ON "{TABLE}" ("{column}")'
                         for column in ("name", "quantity", "created_at"))),
        Case("backfill", f"UPDATE SET discount = 0 WHERE discount IS NULL "
             f"(1 in {DISCOUNT_NULL_EVERY} NULL)",
             f'UPDATE "{TABLE}" SET "discount" = 0 WHERE "discount" IS NULL', after=restore,
             null_column="discount"),
        Case("backfill", "the same, 3 indexes added",
             f'UPDATE "{TABLE}" SET "discount" = 0 WHERE "discount" IS NULL', after=restore,
             null_column="discount", added_indexes=3,
             setup=tuple(f'CREATE INDEX "{TABLE}_{column}_idx" ON "{TABLE}" ("{column}")'
                         for column in ("name", "quantity", "created_at"))),
        Case("copy", "INSERT INTO new__t SELECT ... FROM t",
             f'INSERT INTO "new__{TABLE}" ({COLUMN_NAMES}) SELECT {COLUMN_NAMES} FROM "{TABLE}"',
             setup=(f'CREATE TABLE "new__{TABLE}" (LIKE "{TABLE}" INCLUDING DEFAULTS '
                    "INCLUDING CONSTRAINTS)",
                    f'ALTER TABLE "new__{TABLE}" ADD PRIMARY KEY ("id")')),
    ]  # fmt: skip


@contextlib.contextmanager
def postgresql_database(conninfo: str, keep: bool) -> Iterator[tuple[str, str]]:
    """Create a database of our own; drop it on the way out (unless ``keep``); yields its name
    and connection string."""
    server = PostgresServer(conninfo, dbname=None)  # connected to while creating and dropping
    name = database_name(DATABASE_PREFIX, 12)
    server.create_database(name)
    with Cleanup() as cleanup:
        if keep:
            cleanup.callback(print, f"kept database {name}")
        else:
            cleanup.callback(server.drop_database, name)
        yield name, server.conninfo_for(name)


def run_postgresql(
    conninfo: str, rows: int, repeat: int, keep: bool, estimator: Estimator, verbose: bool
) -> list[Result]:
    with (
        postgresql_database(conninfo, keep) as (name, bench_conninfo),
        psycopg.connect(bench_conninfo, autocommit=True) as connection,
    ):
        version = connection.execute("SHOW server_version").fetchone()
        print(f"== postgresql {version[0] if version else '?'}: database {name} ==")
        started = time.perf_counter()
        for statement in postgresql_schema(rows):
            connection.execute(statement)  # type: ignore[arg-type]
        # Frozen, analysed, hint bits set: the state of a table that has been in use a while.
        for table in (TABLE, CUSTOMERS, PRODUCTS):
            connection.execute(f'VACUUM (FREEZE, ANALYZE) "{table}"')  # type: ignore[arg-type]
        size = connection.execute(
            "SELECT c.reltuples::bigint, pg_size_pretty(pg_table_size(c.oid)), "
            "pg_size_pretty(pg_indexes_size(c.oid)) FROM pg_class c WHERE c.relname = %s",
            (TABLE,),
        ).fetchone()
        assert size is not None
        # What migration_studio would use (risk/stats.py): the row count pg_class.reltuples, the
        # number of indexes, the NULL fraction of each column in pg_stats.
        table_rows = int(size[0])
        indexes = connection.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", (TABLE,)
        ).fetchone()
        assert indexes is not None
        null_fractions = {
            column: float(fraction)
            for column, fraction in connection.execute(
                "SELECT attname, null_frac FROM pg_stats WHERE tablename = %s", (TABLE,)
            ).fetchall()
        }
        print(
            f"   {TABLE}: {table_rows:,} rows (reltuples), table {size[1]}, {indexes[0]} indexes "
            f"{size[2]}; discount NULL fraction {null_fractions.get('discount', 0):.3f} "
            f"(pg_stats); loaded in {time.perf_counter() - started:.1f}s"
        )

        def timed(case: Case) -> float:
            connection.execute("BEGIN")
            try:
                for statement in case.setup:
                    connection.execute(statement)  # type: ignore[arg-type]
                start = time.perf_counter()
                connection.execute(case.sql)  # type: ignore[arg-type]
                elapsed = time.perf_counter() - start
            finally:
                connection.execute("ROLLBACK")
            for statement in case.after:
                connection.execute(statement)  # type: ignore[arg-type]
            return elapsed

        sizes = Sizes(table_rows, int(indexes[0]), null_fractions)
        return measure("postgresql", postgresql_cases(rows), sizes, repeat, timed, estimator,
                       verbose)  # fmt: skip


# -- SQLite ------------------------------------------------------------------------------------


SQLITE_COLUMNS = (
    '"id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "name" varchar(100) NOT NULL, '
    '"quantity" integer NOT NULL, "price" decimal NOT NULL, "created_at" datetime NULL, '
    f'"customer_id" bigint NOT NULL REFERENCES "{CUSTOMERS}" ("id") DEFERRABLE INITIALLY DEFERRED, '
    f'"product_id" bigint NOT NULL REFERENCES "{PRODUCTS}" ("id") DEFERRABLE INITIALLY DEFERRED, '
    '"note" varchar(100) NULL, "discount" integer NULL'
)


def sqlite_schema(rows: int) -> list[str]:
    def numbers(count: int) -> str:
        return f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count}) "

    referenced = [
        f'CREATE TABLE "{name}" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"name" varchar(100) NOT NULL)'
        for name in (CUSTOMERS, PRODUCTS)
    ]
    return [
        *referenced,
        f'CREATE TABLE "{TABLE}" ({SQLITE_COLUMNS})',
        f'{numbers(CUSTOMER_ROWS)}INSERT INTO "{CUSTOMERS}" ("name") '
        "SELECT 'customer ' || n FROM g",
        f'{numbers(product_rows(rows))}INSERT INTO "{PRODUCTS}" ("name") '
        "SELECT 'product ' || n FROM g",
        f'{numbers(rows)}INSERT INTO "{TABLE}" ({COLUMN_NAMES}) '
        "SELECT n, 'order ' || lower(hex(randomblob(16))) || ' ' || (n % 997), "
        "(n * 7919) % 100000, ((n * 31) % 1000000) / 100.0, "
        "datetime('now', '-' || (n % 100000) || ' minutes'), "
        f"1 + (n * 7) % {CUSTOMER_ROWS}, 1 + (n * 7919) % {product_rows(rows)}, NULL, "
        f"CASE WHEN n % {DISCOUNT_NULL_EVERY} = 0 THEN NULL ELSE n % 50 END FROM g",
        f'CREATE INDEX "{TABLE}_customer_id_idx" ON "{TABLE}" ("customer_id")',
        f'CREATE INDEX "{TABLE}_product_id_idx" ON "{TABLE}" ("product_id")',
    ]


def sqlite_cases() -> list[Case]:
    """SQLite migrations build indexes, copy tables (Django's rebuilds) and backfill."""
    return [
        Case("index", "CREATE INDEX (name varchar(100))",
             f'CREATE INDEX "{TABLE}_name_idx" ON "{TABLE}" ("name")'),
        Case("index", "CREATE INDEX (quantity integer)",
             f'CREATE INDEX "{TABLE}_quantity_idx" ON "{TABLE}" ("quantity")'),
        Case("copy", "INSERT INTO new__t SELECT ... FROM t",
             f'INSERT INTO "new__{TABLE}" ({COLUMN_NAMES}) '
             f'SELECT {COLUMN_NAMES} FROM "{TABLE}"',
             setup=(f'CREATE TABLE "new__{TABLE}" ({SQLITE_COLUMNS})',)),
        Case("backfill", "UPDATE SET note = 'x' WHERE note IS NULL (all NULL)",
             f'UPDATE "{TABLE}" SET "note" = \'x\' WHERE "note" IS NULL', null_column="note"),
        Case("backfill", "UPDATE SET note = 'x', 3 indexes added",
             f'UPDATE "{TABLE}" SET "note" = \'x\'', added_indexes=3,
             setup=tuple(f'CREATE INDEX "{TABLE}_{column}_idx" ON "{TABLE}" ("{column}")'
                         for column in ("name", "quantity", "created_at"))),
    ]  # fmt: skip


def run_sqlite(
    rows: int, repeat: int, keep: bool, estimator: Estimator, verbose: bool
) -> list[Result]:
    with temporary_directory(DATABASE_PREFIX, keep=keep) as directory:
        return _run_sqlite(directory / "db.sqlite3", rows, repeat, keep, estimator, verbose)


def _run_sqlite(
    path: Path, rows: int, repeat: int, keep: bool, estimator: Estimator, verbose: bool
) -> list[Result]:
    print(f"== sqlite {sqlite3.sqlite_version}: {path} ==")
    # Django's defaults: rollback journal, no pragmas; transactions are explicit here.
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        started = time.perf_counter()
        connection.execute("BEGIN")
        for statement in sqlite_schema(rows):
            connection.execute(statement)
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        # The row count migration_studio would use on SQLite: a COUNT(*) (risk/stats.py).
        table_rows = connection.execute(f'SELECT COUNT(*) FROM "{TABLE}"').fetchone()[0]
        print(
            f"   {TABLE}: {table_rows:,} rows (COUNT(*)), file {path.stat().st_size / 2**20:.0f} "
            f"MB; loaded in {time.perf_counter() - started:.1f}s"
        )

        def timed(case: Case) -> float:
            connection.execute("BEGIN")
            try:
                for statement in case.setup:
                    connection.execute(statement)
                start = time.perf_counter()
                connection.execute(case.sql)
                return time.perf_counter() - start
            finally:
                connection.execute("ROLLBACK")

        indexes = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (TABLE,)
        ).fetchone()[0]
        # SQLite keeps no NULL fractions: the estimate of a backfill with a WHERE clause is the
        # whole table's, an upper bound.
        sizes = Sizes(table_rows, int(indexes), {})
        return measure("sqlite", sqlite_cases(), sizes, repeat, timed, estimator, verbose)
    finally:
        connection.close()
        if keep:
            print(f"kept {path}")


# -- measuring and reporting -------------------------------------------------------------------


@dataclass
class Sizes:
    """What the statistics say about the measured table, as migration_studio reads them."""

    rows: int
    indexes: int
    #: Column -> fraction of NULL values; a column missing: unknown.
    null_fractions: dict[str, float]

    def changed(self, case: Case) -> int:
        """The rows ``case`` changes, as the estimate sees them."""
        fraction = self.null_fractions.get(case.null_column) if case.null_column else None
        return self.rows if fraction is None else round(self.rows * fraction)


def measure(
    vendor: str,
    cases: list[Case],
    sizes: Sizes,
    repeat: int,
    timed: Callable[[Case], float],
    estimator: Estimator,
    verbose: bool,
) -> list[Result]:
    """Time every case ``repeat`` times, round-robin (so that noise spreads over all cases)."""
    results = [
        Result(
            vendor,
            case,
            sizes.changed(case),
            estimator(
                case.kind,
                sizes.rows,
                sizes.changed(case),
                sizes.indexes + case.added_indexes,
                vendor,
            ),
        )
        for case in cases
    ]
    for round_number in range(1, repeat + 1):
        for result in results:
            result.runs.append(timed(result.case))
            if verbose:
                print(f"   round {round_number}: {result.runs[-1]:7.3f}s  {result.case.sql}")
    print_table(results)
    return results


TABLE_COLUMNS = (
    Column("kind", width=11),
    Column("statement"),
    Column("rows", ">", width=10),
    Column("estimate (s)", ">"),
    Column("actual (s)", ">"),
    Column("ratio est/act", ">"),
    Column("runs (s)"),
)


def print_table(results: list[Result]) -> None:
    rows = [
        (
            result.case.kind,
            result.case.label,
            f"{result.rows:,}",
            f"{result.estimate:.3f}",
            f"{result.actual:.3f}",
            f"{result.ratio:.2f}",
            " ".join(f"{run:.3f}" for run in result.runs)
            + ("" if result.within_target else f"  OUTSIDE {TARGET_RATIO:g}x"),
        )
        for result in results
    ]
    print("\n".join(format_table(TABLE_COLUMNS, rows)))
    print()


def implied_rates(results: list[Result]) -> None:
    """Rows per second each kind achieved (median over its statements), to calibrate rates."""
    by_kind: dict[tuple[str, str], list[float]] = {}
    for result in results:
        by_kind.setdefault((result.vendor, result.case.kind), []).append(
            result.rows / result.actual if result.actual > 0 else float("inf")
        )
    print("Measured throughput (rows/s, median over the statements of each kind):")
    for (vendor, kind), rates in by_kind.items():
        print(f"   {vendor:<11} {kind:<11} {median(rates):>12,.0f}")


# -- command line ------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare migration_studio's duration estimates with measured durations.",
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        default=1_000_000,
        help="rows in the benchmark table (default 1,000,000)",
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=3,
        help="timed runs of each statement; the median is reported (default 3)",
    )
    parser.add_argument(
        "--conninfo",
        default=DEFAULT_CONNINFO,
        help="libpq connection string of a database to connect to while "
        f"creating and dropping ours (default {DEFAULT_CONNINFO!r})",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the benchmark database (and SQLite file) instead of dropping it",
    )
    parser.add_argument(
        "--sqlite",
        action="store_true",
        help="also measure SQLite (index builds, table copies, backfills)",
    )
    parser.add_argument(
        "--no-postgresql",
        dest="postgresql",
        action="store_false",
        help="skip PostgreSQL (with --sqlite: SQLite only)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when an estimate is not within 3x"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every timed statement")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.postgresql or args.sqlite):
        print("nothing to do: --no-postgresql without --sqlite", file=sys.stderr)
        return EXIT_USAGE
    interrupted = "interrupted" + ("" if args.keep else "; the benchmark's database was dropped")
    return run_main(lambda: run(args), interrupted=interrupted)


def run(args: argparse.Namespace) -> int:
    estimator = load_estimator()
    results: list[Result] = []
    try:
        if args.postgresql:
            results += run_postgresql(args.conninfo, args.rows, args.repeat, args.keep,
                                      estimator, args.verbose)  # fmt: skip
        if args.sqlite:
            results += run_sqlite(args.rows, args.repeat, args.keep, estimator, args.verbose)
    except (psycopg.Error, sqlite3.Error, BenchmarkError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    implied_rates(results)
    outside = [result for result in results if not result.within_target]
    print(f"all within {TARGET_RATIO:g}x: {'no' if outside else 'yes'}")
    for result in outside:
        print(f"   {result.vendor} {result.case.kind} {result.case.label}: {result.ratio:.2f}x")
    return exit_status(failed=False, above_target=bool(outside), check=args.check)


if __name__ == "__main__":
    sys.exit(main())
