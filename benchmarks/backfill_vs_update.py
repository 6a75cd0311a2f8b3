#!/usr/bin/env python
"""Benchmark the generated backfill stub against one ``UPDATE`` of the whole table, under writes.

The script creates a PostgreSQL database with one app's table (``benchbackfill_item``: a
``hits`` counter, a label and ``discount``, the nullable column to backfill), fills it with
``--rows`` rows (one ``INSERT ... SELECT`` over ``generate_series``), runs ``VACUUM ANALYZE`` and
keeps it as a template. Then, for ``--repeat`` rounds, each method runs on a fresh copy of that
database (``CREATE DATABASE ... TEMPLATE``, then ``CHECKPOINT``), alternating which runs first:

* **stub**: the backfill stub ``makesafemigration`` writes for ``discount`` made NOT NULL,
  rendered by ``migration_studio.rewrites.backfill.render`` and written as the app's migration
  ``0002``, as generated (it gives every row 0), run by ``call_command("migrate", ...)`` in this
  process: batches of consecutive primary keys, each its own transaction;
* **single UPDATE**: ``UPDATE benchbackfill_item SET discount = 0 WHERE discount IS NULL`` and
  ``COMMIT``, on a connection of its own.

While each runs, a separate process writes to random rows, one short transaction per write
(``UPDATE ... SET hits = hits + 1 WHERE id = %s RETURNING clock_timestamp() -
statement_timestamp()``, then ``COMMIT``): the server measures how long each write waited for its
row, from the statement's start to the row updated, so the client's scheduling does not count.

Targets: the longest write wait during the stub under 50 ms, and the stub's total time at most 2x
the single UPDATE's. Everything it creates (the temporary directory, the databases) is removed at
the end, also on errors, Ctrl-C and SIGTERM. ``--help`` for the options; see
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    BenchmarkError,
    Cleanup,
    Column,
    PostgresServer,
    Writes,
    add_load_options,
    database_name,
    django_database,
    exit_status,
    format_table,
    median,
    ms,
    percentile,
    run_main,
    seconds_list,
    stop_process,
    temporary_directory,
)

APP = "benchbackfill"
TABLE = f"{APP}_item"
STUB = "0002_backfill_item_discount"
VALUE = 0  # what the stub gives every row as generated (an IntegerField)
ROWS = 1_000_000
TARGET_LONGEST_SECONDS = 0.05
TARGET_RATIO = 2.0
METHODS = ("stub", "single UPDATE")
WRITE = (
    f"UPDATE {TABLE} SET hits = hits + 1 WHERE id = %s "
    "RETURNING EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp())::float8"
)
DONE = re.compile(r"Backfilling \S+: ([\d,]+) / ([\d,]+) rows, done in ([\d.]+) s")

MODELS_PY = """\
from django.db import models


class Item(models.Model):
    hits = models.IntegerField(default=0)
    label = models.CharField(max_length=40)
    discount = models.IntegerField(null=True)
"""

INITIAL = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            "Item",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("hits", models.IntegerField(default=0)),
                ("label", models.CharField(max_length=40)),
                ("discount", models.IntegerField(null=True)),
            ],
        ),
    ]
"""


# -- the writer: a process of its own -------------------------------------------------------------


def writer(conninfo: str, rows: int) -> int:
    """Write to random rows until stdin is closed, one transaction per write; print "ready"
    after the first, then, at the end, ``[[sent, wait], ...]`` as JSON: when each write was
    sent (``time.monotonic()``, the same clock in every process) and how long the server says it
    waited."""
    import psycopg

    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    samples: list[tuple[float, float]] = []
    choose = random.Random(rows).randint
    with psycopg.connect(conninfo) as conn:  # autocommit off: BEGIN, the UPDATE, COMMIT
        while not stop.is_set():
            sent = time.monotonic()
            row = conn.execute(WRITE, [choose(1, rows)]).fetchone()
            conn.commit()
            if row is None:
                raise SystemExit("a write found no row")
            if not samples:
                print("ready", flush=True)
            samples.append((sent, row[0]))
    print(json.dumps(samples))
    return 0


# -- Django, configured in this process ------------------------------------------------------------


def configure(tmp: Path, databases: dict[str, str]) -> None:
    """``benchbackfill`` (models.py, 0001_initial) in ``tmp``, Django set up, and the stub
    rendered by migration_studio written as its 0002."""
    app = tmp / APP
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(MODELS_PY)
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(INITIAL)
    sys.path.insert(0, str(tmp))
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="benchmark",
        USE_TZ=True,
        DEBUG=False,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=["migration_studio", APP],
        DATABASES={alias: django_database(url, tmp) for alias, url in databases.items()},
        MIGRATION_STUDIO={"BUNDLE_ROOT": tmp / "bundles", "CACHE_DIR": tmp / "cache"},
    )
    django.setup()
    from django.db import models

    from migration_studio.rewrites.backfill import BackfillStub, render

    stub = BackfillStub(
        app_label=APP,
        name=STUB,
        model_name="item",
        field_name="discount",
        field=models.IntegerField(),
        dependencies=[(APP, "0001_initial")],
        summary=f"Backfill {APP}.item.discount, in batches: stage 2 of expand / backfill / "
        "contract.",
        stages=[
            "1. 0001_initial: the column, nullable.",
            f"2. {STUB} (this migration): every row gets a value, in batches.",
            "3. (not written here): the column made NOT NULL.",
        ],
    )
    (app / "migrations" / f"{STUB}.py").write_text(render(stub))


def fill_template(server: PostgresServer, name: str, rows: int) -> float:
    """Migrate the template database to 0001 and insert ``rows`` rows; returns the seconds."""
    from django.core.management import call_command
    from django.db import connections

    started = time.perf_counter()
    call_command("migrate", APP, "0001_initial", database="template", verbosity=0)
    connections.close_all()
    conninfo = server.conninfo_for(name)
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {TABLE} (hits, label, discount) "
            "SELECT 0, 'item ' || n, NULL FROM generate_series(1, %s) AS n",
            [rows],
        )
        conn.execute(f"VACUUM ANALYZE {TABLE}")
    return time.perf_counter() - started


# -- one run ---------------------------------------------------------------------------------------


@dataclass
class Run:
    method: str
    seconds: float  # the whole backfill, from the client
    waits: list[float]  # of the writes sent while it ran, server time
    updated: int
    note: str = ""

    @property
    def longest(self) -> float:
        return max(self.waits, default=0.0)


def fresh_copy(server: PostgresServer, template: str, name: str) -> None:
    """``name`` copied again from ``template`` (this process's connections closed first)."""
    from django.db import connections

    connections.close_all()
    server.copy_database(template, name)


def run_stub() -> tuple[int, str]:
    """``migrate benchbackfill 0002_...`` as users run it; the stub's own summary line."""
    from django.core.management import call_command

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        call_command("migrate", APP, STUB, verbosity=1, stdout=printed)
    found = DONE.search(printed.getvalue())
    if not found:
        raise BenchmarkError(f"the stub printed no summary:\n{printed.getvalue()}")
    updated, total, seconds = found.groups()
    return int(updated.replace(",", "")), f"{seconds} s by its own clock, {total} rows pending"


def run_update(conninfo: str) -> tuple[int, str]:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        cursor = conn.execute(f"UPDATE {TABLE} SET discount = %s WHERE discount IS NULL", [VALUE])
        conn.commit()
        return cursor.rowcount, ""


def measure(method: str, server: PostgresServer, names: dict[str, str], rows: int) -> Run:
    fresh_copy(server, names["template"], names["default"])
    conninfo = server.conninfo_for(names["default"])
    with Cleanup() as cleanup:
        process = subprocess.Popen(
            [sys.executable, __file__, "--writer", conninfo, "--rows", str(rows)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        cleanup.callback(stop_process, process)
        writes = Writes(process)
        start = time.monotonic()
        updated, note = run_stub() if method == "stub" else run_update(conninfo)
        end = time.monotonic()
        waits = writes.stop(start, end)
    left = server_count(conninfo, f"SELECT count(*) FROM {TABLE} WHERE discount IS DISTINCT FROM 0")
    if updated != rows or left:
        raise BenchmarkError(f"{method}: {updated:,} rows updated, {left:,} without the value.")
    return Run(method, end - start, waits, updated, note)


def server_count(conninfo: str, query: str) -> int:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0


# -- output ----------------------------------------------------------------------------------------


def describe(run: Run) -> str:
    waits = run.waits
    return (
        f"   {run.method:<13}  {run.seconds:6.2f} s  writes {len(waits):6,}  longest "
        f"{ms(run.longest):>10}  p99 {ms(percentile(waits, 99)):>9}  median "
        f"{ms(median(waits) if waits else 0):>7}" + (f"  ({run.note})" if run.note else "")
    )


@dataclass
class Summary:
    runs: dict[str, list[Run]] = field(default_factory=lambda: {m: [] for m in METHODS})

    def seconds(self, method: str) -> float:
        return median(run.seconds for run in self.runs[method])

    def longest(self, method: str) -> float:
        return max(run.longest for run in self.runs[method])

    def waits(self, method: str) -> list[float]:
        return [wait for run in self.runs[method] for wait in run.waits]

    @property
    def ratio(self) -> float:
        return self.seconds("stub") / self.seconds("single UPDATE")

    @property
    def above_target(self) -> bool:
        return self.longest("stub") >= TARGET_LONGEST_SECONDS or self.ratio > TARGET_RATIO

    def lines(self) -> list[str]:
        def row(label: str, value: Any) -> list[str]:
            return [label, *(value(method) for method in METHODS)]

        rows = [
            row("total backfill time (median)", lambda m: f"{self.seconds(m):.2f} s"),
            row("longest write wait (all runs)", lambda m: ms(self.longest(m))),
            row("99th percentile write wait", lambda m: ms(percentile(self.waits(m), 99))),
            row("median write wait", lambda m: ms(median(self.waits(m)))),
            row(
                "writes (per run, median)",
                lambda m: f"{median(len(run.waits) for run in self.runs[m]):,.0f}",
            ),
            row(
                "writes per second",
                lambda m: f"{len(self.waits(m)) / sum(r.seconds for r in self.runs[m]):,.0f}",
            ),
        ]
        columns = [Column(""), *(Column(method, ">") for method in METHODS)]
        longest_ok = self.longest("stub") < TARGET_LONGEST_SECONDS
        ratio_ok = self.ratio <= TARGET_RATIO
        return [
            *format_table(columns, rows),
            "",
            f"   stub / single UPDATE total time: {self.ratio:.2f}x (target <= {TARGET_RATIO:g}x): "
            + ("OK" if ratio_ok else "MISSED"),
            f"   longest write wait with the stub: {ms(self.longest('stub'))} (target < "
            f"{TARGET_LONGEST_SECONDS * 1000:.0f} ms): " + ("OK" if longest_ok else "MISSED"),
            "   all totals (s): "
            + "; ".join(f"{m} {seconds_list(r.seconds for r in self.runs[m])}" for m in METHODS),
        ]


# -- main ------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    print(f"python {sys.executable}")
    server = PostgresServer(args.server)
    stem = database_name("ms_backfill_bench_")
    names = {"template": f"{stem}_template", "default": f"{stem}_run"}
    with temporary_directory("ms_backfill_bench_") as tmp, Cleanup() as cleanup:
        for name in names.values():
            cleanup.callback(server.drop_database, name)
        server.create_database(names["template"])
        server.create_database(names["default"])
        configure(tmp, {alias: f"{args.server}/{name}" for alias, name in names.items()})
        seconds = fill_template(server, names["template"], args.rows)
        print(
            f"   {args.rows:,} rows in {TABLE} ({seconds:.1f} s, database {names['template']}); "
            f"{args.repeat} round(s), each method on a fresh copy, a writer process on random rows"
        )
        summary = Summary()
        for number in range(args.repeat):
            order = METHODS if number % 2 == 0 else METHODS[::-1]
            for method in order:
                result = measure(method, server, names, args.rows)
                summary.runs[method].append(result)
                print(describe(result), flush=True)
        print()
        print(
            f"Write waits measured by the server; {args.rows:,} rows, {args.repeat} round(s) "
            f"(targets: longest wait with the stub < {TARGET_LONGEST_SECONDS * 1000:.0f} ms, stub "
            f"<= {TARGET_RATIO:g}x the single UPDATE):"
        )
        print("\n".join(summary.lines()))
    return exit_status(failed=False, above_target=summary.above_target, check=args.check)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the generated backfill stub against one UPDATE of the whole table, "
        "with a process writing to random rows meanwhile (PostgreSQL).",
    )
    add_load_options(
        parser,
        rows=ROWS,
        repeat=3,
        repeat_help="rounds of both methods",
        check_help="exit with status 1 when a target is missed",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.writer:
        return writer(args.writer, args.rows)
    try:
        return run_main(lambda: run(args))
    except BenchmarkError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
