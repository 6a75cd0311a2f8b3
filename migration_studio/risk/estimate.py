"""How long a statement's work takes, from the row count: a documented, calibratable model.

Each kind of work has a throughput in rows per second per backend; the estimate is
``OVERHEAD + rows / rate``. A backfill (an UPDATE) reads the whole table and writes the rows it
changes, each with an entry in every index of the table: ``OVERHEAD + (rows - changed) /
rate[scan] + changed / rate[backfill] + changed * indexes / rate[backfill_index]``, see
:func:`backfill_seconds`. Calibrate the rates for your hardware with
``MIGRATION_STUDIO["ESTIMATE_RATES"]``, e.g. ``{"postgresql": {"rewrite": 400_000}}``.

The PostgreSQL and SQLite defaults come from ``benchmarks/estimate_accuracy.py``: a 1,000,000-row
table (8 columns, 112 MB, a primary key and two foreign-key indexes, 37 MB), each statement run 3
times in a rolled-back transaction, median; PostgreSQL 15.20 and SQLite 3.40.1 on a shared 2-CPU
machine, 5 runs of the benchmark. Measured seconds for 1M rows (the range of the 5 medians), and
the rate chosen:

* index: CREATE INDEX on a varchar(100) 1.16-1.47, the same with varchar_pattern_ops 0.74-1.15,
  on an integer 0.32-0.44 -> 1.5M rows/s (SQLite: varchar 0.58-0.62, integer 0.29-0.30 -> 2M);
* rewrite: ALTER COLUMN integer TYPE bigint 1.45-2.03, ADD COLUMN uuid DEFAULT gen_random_uuid()
  2.81-3.09 -> 500k rows/s;
* scan: SET NOT NULL 0.098-0.102, ADD CONSTRAINT CHECK 0.067-0.070 -> 10M rows/s;
* validate_fk: ADD FOREIGN KEY to a 1,000-row table 0.086-0.092, to a 100,000-row table
  0.115-0.129 -> 5M rows/s, slower than that on purpose: in an earlier version of the benchmark,
  whose indexes were bloated by rolled-back backfills, PostgreSQL checked the 100,000-row reference
  with a hash anti join instead of a merge join and took 0.41-0.47 s;
* backfill: UPDATE of every row (three indexes to maintain) 10.9-13.0 (SQLite 0.60-0.71); see
  below for the rates;
* copy: INSERT INTO new__t SELECT ... FROM t 1.30-1.72 -> 800k rows/s (SQLite 0.47-0.50 -> 2M;
  SQLite has no in-place rewrite, its "rewrite" rate is the copy's).

Every estimate is within 3x of those durations (0.45x to 2.35x). The commit is not timed. The
MySQL rates and SQLite's scan and validate_fk rates were not measured: they are rough guesses.

The backfill rates were measured later, with the benchmark's backfills on the same table (a ninth
column, ``discount``, NULL in every tenth row; 126 MB) with its 3 indexes, with 1 (the two
foreign-key indexes dropped) and with 6 (three more, on the varchar, an integer and the
timestamp), and ``UPDATE ... WHERE discount IS NULL`` (98,133, 99,200 and 97,400 rows by
``pg_stats.null_frac``). That machine was busier: the index builds and rewrites of the same runs
took 1.3-2x the figures above. Seconds, the medians of 3 runs of the benchmark, the estimate and
its ratios:

* every row, 1 index: 8.26, 6.23, 6.84 -> 8.67 (1.05x, 1.39x, 1.27x);
* every row, 3 indexes: 22.9, 22.9, 20.1 -> 22.0 (0.96x, 0.96x, 1.09x); the rate before,
  100k rows/s whatever the indexes, said 10 s (0.44x to 0.50x);
* every row, 6 indexes: 70.1, 60.5, 50.1 -> 42.0 (0.60x, 0.69x, 0.84x): each index costs more
  when there are more (their pages compete for the cache);
* the 10% NULL rows, 3 indexes: 2.36, 2.41, 2.21 -> 2.24-2.27 (0.94x to 1.01x); the whole-table
  estimate said 10 s (4.2x to 4.5x);
* the 10% NULL rows, 6 indexes: 7.19, 5.50, 6.08 -> 4.18-4.26 (0.59x, 0.77x, 0.69x);

-> backfill 500k rows/s and backfill_index 150k entries/s: every case within 0.59x-1.39x. The
estimate of the earlier measure, every row with 3 indexes in 10.9-13.0 s, is 22 s: within 2.1x.
SQLite writes only the indexes whose columns change (so does InnoDB): its UPDATE of an unindexed
column took 1.50, 0.96, 1.76 s with 2 indexes and 1.17, 0.87, 1.30 s with 5 -> backfill 1M rows/s
(1.04 s: 0.59x to 1.08x; 1.10 s with 5 indexes: 0.85x to 1.27x), and a backfill_index rate of
50M, next to nothing (MySQL's too).
"""

from __future__ import annotations

from .. import conf

#: Kinds of work: a full read of the table; rewriting every row (and rebuilding its indexes); an
#: index build; an UPDATE (a backfill: the rows it changes, see ``backfill_seconds``);
#: validating a foreign key (a scan with a lookup per row); copying a table (SQLite's rebuilds).
WORK_KINDS = ("scan", "rewrite", "index", "backfill", "validate_fk", "copy")
#: Not a kind of work of its own: the rate, in entries per second, at which a backfill adds an
#: entry per changed row to each index of the table.
BACKFILL_INDEX = "backfill_index"

DEFAULT_RATES: dict[str, dict[str, float]] = {
    "postgresql": {
        "scan": 10_000_000,
        "rewrite": 500_000,
        "index": 1_500_000,
        "backfill": 500_000,
        "backfill_index": 150_000,
        "validate_fk": 5_000_000,
        "copy": 800_000,
    },
    "mysql": {
        "scan": 4_000_000,
        "rewrite": 500_000,
        "index": 800_000,
        "backfill": 200_000,
        "backfill_index": 50_000_000,
        "validate_fk": 800_000,
        "copy": 400_000,
    },
    "sqlite": {
        "scan": 10_000_000,
        "rewrite": 2_000_000,
        "index": 2_000_000,
        "backfill": 1_000_000,
        "backfill_index": 50_000_000,
        "validate_fk": 2_000_000,
        "copy": 2_000_000,
    },
}
#: The indexes a backfill is assumed to maintain when the table's index count is unknown (a stats
#: file of format 1): a primary key and two foreign keys' indexes, as in the benchmark.
DEFAULT_INDEXES = 3
#: Seconds every statement costs however small the table (catalog updates, lock acquisition).
OVERHEAD = 0.002


def rates(vendor: str) -> dict[str, float]:
    merged = dict(DEFAULT_RATES.get(vendor, DEFAULT_RATES["postgresql"]))
    merged.update((conf.get("ESTIMATE_RATES") or {}).get(vendor, {}))
    return merged


def seconds(
    kind: str | None, rows: int | None, vendor: str, *, indexes: int | None = None
) -> float | None:
    """Estimated duration of ``kind`` of work on ``rows`` rows; None when the size is unknown.
    ``indexes``: the table's index count, for a backfill (None: unknown, ``DEFAULT_INDEXES``)."""
    if kind is None:
        return OVERHEAD
    if rows is None:
        return None
    if kind == "backfill":
        return backfill_seconds(rows, rows, indexes, vendor)
    return OVERHEAD + rows / rates(vendor)[kind]


def backfill_seconds(rows: int, changed: int, indexes: int | None, vendor: str) -> float:
    """Estimated duration of an UPDATE that changes ``changed`` of the table's ``rows`` rows:
    every row is read, and each changed one is written with an entry in each of the table's
    ``indexes`` (None: unknown, ``DEFAULT_INDEXES``)."""
    rate = rates(vendor)
    changed = min(changed, rows)
    entries = changed * (DEFAULT_INDEXES if indexes is None else indexes)
    return (
        OVERHEAD
        + (rows - changed) / rate["scan"]
        + changed / rate["backfill"]
        + entries / rate[BACKFILL_INDEX]
    )
