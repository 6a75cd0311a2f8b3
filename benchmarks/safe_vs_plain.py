#!/usr/bin/env python
"""Benchmark ``makesafemigration --safe`` against the plain migration, under writes.

For each change kind (an index, a CHECK or a unique constraint, a foreign key added; a field
gaining db_index or unique; a column made NOT NULL, without or with a default for its NULL rows;
a column dropped) to a table of ``--rows``
rows, the migration is generated twice from the same change to the app's ``models.py``: by plain
``makesafemigration`` (what Django's ``makemigrations`` writes) and by ``makesafemigration
--safe``. Each version is then applied with ``call_command("migrate")``
on a fresh copy of a template database (``CREATE DATABASE ... TEMPLATE``, then ``CHECKPOINT``) while
a separate process writes: an ``INSERT`` of a new row and an ``UPDATE`` of a random row, one short
transaction each, one write every 5 ms. Each statement returns ``clock_timestamp() -
statement_timestamp()``: the server measures how long the write waited, so the client's scheduling
does not count.

Target: with the safe version, the longest write wait under 50 ms for every kind. Each step runs
in a process of its own (``--generate``, ``--apply``, ``--writer``), since each version has its own
``models.py`` and migrations; everything the script creates (the temporary directory, the
databases, migration_studio's scratch databases of its processes) is removed at the end, also on
errors, Ctrl-C and SIGTERM. ``--help`` for the options; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    SCRATCH_PREFIX,
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
    scratch_owner,
    seconds_list,
    stop_process,
    temporary_directory,
)

APP = "benchsafe"
TABLE = f"{APP}_item"
ROWS = 1_000_000
PERIOD = 0.005  # seconds between two writes
TARGET_LONGEST_SECONDS = 0.05
VARIANTS = ("plain", "safe")
TIMEOUT = 600
TIMES = "migrate times: "

INSERT = (
    f"INSERT INTO {TABLE} (hits, label, code, price, note, customer_ref) "
    "VALUES (0, 'new', %s, 1, 'new', 1) "
    "RETURNING EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp())::float8"
)
UPDATE = (
    f"UPDATE {TABLE} SET hits = hits + 1 WHERE id = %s "
    "RETURNING EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp())::float8"
)
FILL = (
    f"INSERT INTO {TABLE} (hits, label, code, price, note, customer_ref, legacy) "
    "SELECT 0, 'item ' || n, n, n %% 1000, 'note ' || n, CASE WHEN n %% 2 = 0 THEN 1 END, n "
    "FROM generate_series(1, %s) AS n"
)

MODELS_PY = """\
from django.db import models


class Customer(models.Model):
    name = models.CharField(max_length=40)


class Item(models.Model):
    hits = models.IntegerField(default=0)
    label = models.CharField(max_length=40)
    code = models.IntegerField()
    price = models.IntegerField()
    note = models.CharField(max_length=40, null=True)
    customer_ref = models.BigIntegerField(null=True)
    legacy = models.IntegerField(null=True)
{meta}"""


@dataclass(frozen=True)
class Kind:
    """A change to ``Item``: its ``Meta`` lines (or fields replaced) and the query that says, on
    the migrated database, whether the change is in place and valid (one boolean)."""

    name: str
    slug: str
    done: str
    meta: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    options: tuple[str, ...] = ()  # more makesafemigration options, for both versions

    def models_py(self) -> str:
        text = MODELS_PY.format(meta=f"\n    class Meta:\n{self.meta}" if self.meta else "")
        for old, new in self.fields.items():
            if old not in text:
                raise BenchmarkError(f"{self.name}: no {old!r} in models.py")
            text = text.replace(old, new)
        return text


KINDS = [
    Kind(
        "add index",
        "index",
        meta="        indexes = [\n"
        '            models.Index(fields=["label"], name="benchsafe_item_label_idx")\n'
        "        ]\n",
        done="SELECT indisvalid FROM pg_index "
        "WHERE indexrelid = 'benchsafe_item_label_idx'::regclass",
    ),
    Kind(
        "field db_index",
        "db_index",
        fields={
            "label = models.CharField(max_length=40)": (
                "label = models.CharField(max_length=40, db_index=True)"
            )
        },
        done="SELECT bool_and(indisvalid) AND count(*) = 2 FROM pg_index "
        "WHERE indrelid = 'benchsafe_item'::regclass AND indkey[0] = (SELECT attnum FROM "
        "pg_attribute WHERE attrelid = 'benchsafe_item'::regclass AND attname = 'label')",
    ),
    Kind(
        "field unique",
        "field_unique",
        fields={"code = models.IntegerField()": "code = models.IntegerField(unique=True)"},
        done="SELECT count(*) = 1 FROM pg_constraint "
        "WHERE conrelid = 'benchsafe_item'::regclass AND contype = 'u'",
    ),
    Kind(
        "add check",
        "check",
        meta="        constraints = [\n"
        "            models.CheckConstraint(\n"
        '                condition=models.Q(price__gte=0), name="benchsafe_item_price_gte_0"\n'
        "            )\n"
        "        ]\n",
        done="SELECT convalidated FROM pg_constraint WHERE conname = 'benchsafe_item_price_gte_0'",
    ),
    Kind(
        "add unique",
        "unique",
        meta="        constraints = [\n"
        '            models.UniqueConstraint(fields=["code"], name="benchsafe_item_code_uniq")\n'
        "        ]\n",
        done="SELECT convalidated FROM pg_constraint "
        "WHERE conname = 'benchsafe_item_code_uniq' AND contype = 'u'",
    ),
    Kind(
        "set NOT NULL",
        "not_null",
        fields={
            "note = models.CharField(max_length=40, null=True)": (
                "note = models.CharField(max_length=40)"
            )
        },
        done="SELECT attnotnull AND NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = "
        "'benchsafe_item'::regclass AND contype = 'c') FROM pg_attribute "
        "WHERE attrelid = 'benchsafe_item'::regclass AND attname = 'note'",
    ),
    Kind(
        "NOT NULL + default",
        "not_null_default",
        fields={
            "customer_ref = models.BigIntegerField(null=True)": (
                "customer_ref = models.BigIntegerField(default=0)"
            )
        },
        done="SELECT attnotnull AND NOT EXISTS (SELECT FROM benchsafe_item WHERE customer_ref IS "
        "NULL) FROM pg_attribute WHERE attrelid = 'benchsafe_item'::regclass "
        "AND attname = 'customer_ref'",
    ),
    Kind(
        "add FK",
        "fk",
        fields={
            "customer_ref = models.BigIntegerField(null=True)\n": (
                "customer_ref = models.BigIntegerField(null=True)\n"
                "    customer = models.ForeignKey(Customer, models.SET_NULL, null=True)\n"
            )
        },
        done="SELECT c.convalidated AND EXISTS (SELECT FROM pg_index i WHERE i.indrelid = "
        "c.conrelid AND i.indkey[0] = c.conkey[1] AND i.indisvalid) FROM pg_constraint c "
        "WHERE c.conrelid = 'benchsafe_item'::regclass AND c.contype = 'f'",
    ),
    Kind(
        "drop column",
        "drop",
        fields={"    legacy = models.IntegerField(null=True)\n": ""},
        done="SELECT NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = "
        "'benchsafe_item'::regclass AND attname = 'legacy' AND NOT attisdropped)",
    ),
    Kind(
        "drop + backup",
        "drop_backup",
        fields={"    legacy = models.IntegerField(null=True)\n": ""},
        done="SELECT NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = "
        "'benchsafe_item'::regclass AND attname = 'legacy' AND NOT attisdropped)",
        options=("--backup",),
    ),
]


# -- the processes: writer, generator, migrate ----------------------------------------------------


def writer(conninfo: str, rows: int) -> int:
    """Until stdin is closed: an INSERT of a new row, then an UPDATE of a random row, each its
    own transaction, one write every ``PERIOD`` seconds; "ready" after the first write, then, at
    the end, ``[[sent, wait], ...]`` as JSON: when each write was sent (``time.monotonic()``, the
    same clock in every process) and how long the server says it waited."""
    import psycopg

    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    samples: list[tuple[float, float]] = []
    choose = random.Random(rows).randint
    code = rows
    following = time.monotonic()
    # Client-side binding: each statement is one simple-protocol message. With server-side
    # binding (Parse, Bind, Execute) the table lock is taken while parsing and
    # statement_timestamp() is set again at Bind, after the wait: a write blocked by ACCESS
    # EXCLUSIVE or SHARE for seconds would report 0.2 ms. Autocommit off: BEGIN, it, COMMIT.
    with psycopg.connect(conninfo, cursor_factory=psycopg.ClientCursor) as conn:
        while not stop.is_set():
            for statement in (INSERT, UPDATE):
                following += PERIOD
                pause = following - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                else:
                    following = time.monotonic()  # late (a wait): no burst to catch up
                code += 1
                sent = time.monotonic()
                row = conn.execute(
                    statement, [code if statement is INSERT else choose(1, rows)]
                ).fetchone()
                conn.commit()
                if row is None:
                    raise SystemExit("a write found no row")
                if not samples:
                    print("ready", flush=True)
                samples.append((sent, row[0]))
    print(json.dumps(samples))
    return 0


def configure(app_dir: Path, url: str) -> None:
    """Django set up in this process with the app in ``app_dir`` (``benchsafe`` is its child)."""
    sys.path.insert(0, str(app_dir))
    import django
    from django.conf import settings

    tmp = app_dir.parent
    settings.configure(
        SECRET_KEY="benchmark",
        USE_TZ=True,
        DEBUG=False,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=["migration_studio", APP],
        DATABASES={"default": django_database(url, tmp)},
        MIGRATION_STUDIO={
            "BUNDLE_ROOT": app_dir / "bundles",
            "CACHE_DIR": tmp / "cache",
            "SAFE_REWRITES": False,
        },
    )
    django.setup()


def generate(app_dir: Path, url: str, command: list[str]) -> int:
    """``command`` (``makemigrations ...`` or ``makesafemigration ...``) run on the app."""
    configure(app_dir, url)
    from django.core.management import call_command

    out = io.StringIO()
    call_command(*command, stdout=out, stderr=out)
    print(out.getvalue())
    return 0


def apply(app_dir: Path, url: str) -> int:
    """``migrate`` timed in this process; ``{"start": ..., "end": ...}`` (``time.monotonic()``)."""
    configure(app_dir, url)
    from django.core.management import call_command

    start = time.monotonic()
    call_command("migrate", APP, verbosity=0)
    end = time.monotonic()
    print(f"\n{TIMES}{json.dumps({'start': start, 'end': end})}", flush=True)
    return 0


class Children:
    """The processes the script starts: each is stopped on the way out, and their pids kept (to
    find scratch databases migration_studio may have left behind)."""

    def __init__(self, cleanup: Cleanup) -> None:
        self.cleanup = cleanup
        self.pids: set[int] = set()

    def start(self, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pids.add(process.pid)
        self.cleanup.callback(stop_process, process)
        return process

    def run(self, *args: str) -> str:
        process = self.start(*args)
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchmarkError(f"{args[0]} took more than {TIMEOUT} s") from None
        if process.returncode:
            lines = (stderr.strip() or stdout.strip()).splitlines() or ["(no output)"]
            raise BenchmarkError(f"{' '.join(args[:2])} failed: {lines[-1]}")
        return stdout

    def leftover_scratch(self, server: PostgresServer) -> list[str]:
        names = server.databases(SCRATCH_PREFIX)
        return sorted(name for name in names if scratch_owner(name) in self.pids)


# -- the project: the app, its versions, the template database -------------------------------------


def write_app(directory: Path, models_py: str, migrations: Path | None = None) -> Path:
    """``directory/benchsafe`` with ``models_py`` and a copy of ``migrations`` (or none)."""
    app = directory / APP
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(models_py)
    if migrations is None:
        (app / "migrations").mkdir()
        (app / "migrations" / "__init__.py").write_text("")
    else:
        shutil.copytree(migrations, app / "migrations", ignore=shutil.ignore_patterns("__py*"))
    return directory


def new_migrations(app_dir: Path) -> list[str]:
    return sorted(
        p.stem for p in (app_dir / APP / "migrations").glob("0*.py") if p.stem != "0001_initial"
    )


def migration_texts(app_dir: Path) -> list[str]:
    return [(app_dir / APP / "migrations" / f"{n}.py").read_text() for n in new_migrations(app_dir)]


def fill_template(children: Children, base: Path, url: str, rows: int) -> float:
    """The template database: the base app migrated, a customer and ``rows`` items, analysed."""
    import psycopg

    started = time.perf_counter()
    children.run("--apply", str(base), url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {APP}_customer (name) VALUES ('customer')")
        conn.execute(FILL, [rows])
        conn.execute(f"VACUUM ANALYZE {TABLE}")
    return time.perf_counter() - started


# -- one run -------------------------------------------------------------------------------------


@dataclass
class Run:
    kind: str
    variant: str
    seconds: float  # migrate, timed in its process
    waits: list[float]  # of the writes sent while it ran, server time

    @property
    def longest(self) -> float:
        return max(self.waits, default=0.0)


@dataclass
class Bench:
    """What every step uses: the processes, the server and the databases, the table size."""

    children: Children
    server: PostgresServer
    server_url: str
    names: dict[str, str]  # "template", "run"
    rows: int

    def url(self, database: str) -> str:
        return f"{self.server_url}/{self.names[database]}"


def measure(kind: Kind, variant: str, app_dir: Path, bench: Bench) -> Run:
    bench.server.copy_database(bench.names["template"], bench.names["run"])
    conninfo = bench.url("run")
    writes = Writes(
        bench.children.start("--writer", conninfo, "--rows", str(bench.rows), stdin=subprocess.PIPE)
    )
    printed = bench.children.run("--apply", str(app_dir), conninfo).splitlines()
    found = [line for line in printed if line.startswith(TIMES)]
    if not found:
        raise BenchmarkError(f"{kind.name}, {variant}: migrate printed no times: {printed}")
    times = json.loads(found[-1].removeprefix(TIMES))
    waits = writes.stop(times["start"], times["end"])
    done = server_value(conninfo, kind.done)
    if done is not True:
        raise BenchmarkError(f"{kind.name}, {variant}: the change is not in place and valid.")
    return Run(kind.name, variant, times["end"] - times["start"], waits)


def server_value(conninfo: str, query: str) -> object:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
        return row[0] if row else None


# -- output --------------------------------------------------------------------------------------


def describe(run: Run) -> str:
    return (
        f"   {run.kind:<18} {run.variant:<5}  migrate {run.seconds:6.2f} s  writes "
        f"{len(run.waits):5,}  longest {ms(run.longest):>10}  p99 "
        f"{ms(percentile(run.waits, 99)):>9}"
    )


@dataclass
class Summary:
    runs: list[Run] = field(default_factory=list)

    def of(self, kind: str, variant: str) -> list[Run]:
        return [r for r in self.runs if r.kind == kind and r.variant == variant]

    def longest(self, kind: str, variant: str) -> float:
        return max(r.longest for r in self.of(kind, variant))

    def waits(self, kind: str, variant: str) -> list[float]:
        return [w for r in self.of(kind, variant) for w in r.waits]

    def missed(self, kind: str) -> bool:
        return self.longest(kind, "safe") >= TARGET_LONGEST_SECONDS

    def lines(self, kinds: list[Kind]) -> list[str]:
        columns = [
            Column("change"),
            Column("longest, plain", ">"),
            Column("longest, safe", ">"),
            Column("p99, plain", ">"),
            Column("p99, safe", ">"),
            Column("writes plain/safe", ">"),
            Column("migrate plain/safe", ">"),
            Column("target"),
        ]
        rows = []
        for kind in kinds:
            k = kind.name
            writes = "/".join(
                f"{median(len(r.waits) for r in self.of(k, v)):,.0f}" for v in VARIANTS
            )
            seconds = "/".join(
                f"{median(r.seconds for r in self.of(k, v)):.2f} s" for v in VARIANTS
            )
            rows.append(
                [
                    k,
                    ms(self.longest(k, "plain")),
                    ms(self.longest(k, "safe")),
                    ms(percentile(self.waits(k, "plain"), 99)),
                    ms(percentile(self.waits(k, "safe"), 99)),
                    writes,
                    seconds,
                    "MISSED" if self.missed(k) else "OK",
                ]
            )
        return [
            *format_table(columns, rows),
            "",
            "   longest: over all rounds; p99: all the rounds' writes; writes and migrate: median "
            "per run",
            *(
                f"   all migrate times (s), {kind.name}: "
                + "; ".join(
                    f"{v} {seconds_list(r.seconds for r in self.of(kind.name, v))}"
                    for v in VARIANTS
                )
                for kind in kinds
            ),
        ]


# -- main ----------------------------------------------------------------------------------------


def prepare(tmp: Path, bench: Bench, kinds: list[Kind]) -> dict[tuple[str, str], Path]:
    """The base app and its 0001 (Django's ``makemigrations``), the template database, and per
    kind and variant a copy of the app with the changed models.py and its new migrations."""
    children, rows = bench.children, bench.rows
    template_url = bench.url("template")
    base = write_app(tmp / "base", MODELS_PY.format(meta=""))
    children.run("--generate", str(base), template_url, "makemigrations", APP, "-v", "0")
    seconds = fill_template(children, base, template_url, rows)
    print(
        f"   {rows:,} rows in {TABLE} ({seconds:.1f} s, database {bench.names['template']}); "
        "a writer process: an INSERT and an UPDATE of a random row, one every "
        f"{PERIOD * 1000:.0f} ms"
    )
    versions = {}
    for kind in kinds:
        for variant in VARIANTS:
            app_dir = write_app(
                tmp / f"{kind.slug}_{variant}", kind.models_py(), base / APP / "migrations"
            )
            command = ["makesafemigration", APP, "--name", kind.slug, "--no-cache", "--noinput"]
            command += [*kind.options, *(["--safe"] if variant == "safe" else [])]
            children.run("--generate", str(app_dir), template_url, *command)
            written = new_migrations(app_dir)
            if not written:
                raise BenchmarkError(f"{kind.name}, {variant}: no migration written.")
            print(f"   {kind.name}, {variant}: {', '.join(written)}")
            versions[kind.name, variant] = app_dir
        if migration_texts(versions[kind.name, "plain"]) == migration_texts(app_dir):
            print(f"   WARNING: {kind.name}: --safe wrote the same migrations as plain")
    return versions


def run(args: argparse.Namespace) -> int:
    print(f"python {sys.executable}")
    server = PostgresServer(args.server)
    stem = database_name("ms_safe_bench_")
    names = {"template": f"{stem}_template", "run": f"{stem}_run"}
    with temporary_directory("ms_safe_bench_") as tmp, Cleanup() as cleanup:
        for name in names.values():
            cleanup.callback(server.drop_database, name)
        children = Children(cleanup)

        def drop_leftover_scratch() -> None:
            for name in children.leftover_scratch(server):
                server.drop_database(name)

        cleanup.callback(drop_leftover_scratch)
        server.create_database(names["template"])
        kinds = KINDS
        bench = Bench(children, server, args.server, names, args.rows)
        versions = prepare(tmp, bench, kinds)
        summary = Summary()
        for number in range(args.repeat):
            order = VARIANTS if number % 2 == 0 else VARIANTS[::-1]
            for kind in kinds:
                for variant in order:
                    result = measure(kind, variant, versions[kind.name, variant], bench)
                    summary.runs.append(result)
                    print(describe(result), flush=True)
        left = children.leftover_scratch(server)
        if left:
            print(f"   WARNING: scratch databases left behind: {', '.join(left)}")
        print()
        print(
            f"Write waits measured by the server; {args.rows:,} rows, {args.repeat} round(s) "
            f"(target: longest wait with --safe < {TARGET_LONGEST_SECONDS * 1000:.0f} ms):"
        )
        print("\n".join(summary.lines(kinds)))
    above = any(summary.missed(kind.name) for kind in kinds)
    return exit_status(failed=False, above_target=above, check=args.check)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Apply each change kind's plain and --safe migrations to a large table, "
        "with a process writing meanwhile, and compare the writes' waits (PostgreSQL).",
    )
    add_load_options(
        parser,
        rows=ROWS,
        repeat=2,
        repeat_help="rounds of every version",
        check_help="exit with status 1 when a safe version's longest write wait is 50 ms or more",
    )
    parser.add_argument("--generate", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--apply", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.writer:
        return writer(args.writer, args.rows)
    if args.generate:
        app_dir, url, *command = args.generate
        return generate(Path(app_dir), url, command)
    if args.apply:
        return apply(Path(args.apply[0]), args.apply[1])
    try:
        return run_main(lambda: run(args))
    except BenchmarkError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
