#!/usr/bin/env python
"""Benchmark ``validatemigration`` against Django's own ``migrate`` forwards then backwards.

The script generates the 200-model project of ``harness.py`` (the one
``makesafemigration_vs_makemigrations.py`` times too), commits each app's ``0001_initial``,
migrates the project's database, changes 10 models in 5 apps and runs ``makesafemigration
--noinput`` for real: 5 ``0002_*`` migrations and their bundles. Then, for ``--repeat`` rounds,
each side in a fresh ``python manage.py shell`` process with the clock started after Django's
set-up:

* **migrate** (the baseline): an empty database is created, migrated to the migration's parent
  state (not timed), then ``migrate <app> <0002_...>`` and ``migrate <app> 0001_initial`` are
  timed; the database is dropped afterwards (not timed);
* **validatemigration**: ``call_command("validatemigration", <app>, <0002_...>, all_bundles=True,
  verbosity=0)`` is timed whole: loading the graph, the scratch database from the cached parent
  state, every step, dropping the scratch database, writing validation.json and the records;

once for the bundle with the most operations and once for all 5 bundles (one ``validatemigration
--all`` run against 5 ``migrate`` round trips). Last, the sample copy's throughput: the project's
database gets ``--sample-rows`` rows in a few tables of that app and ``validatemigration --all
--sample-from default --sample-rows N`` runs; validation.json says how many rows per second.

Everything it creates (the temporary directory, the PostgreSQL databases: the project's, the
baseline's, the scratch and cached states its runs made) is removed at the end, also on errors,
Ctrl-C and SIGTERM. Run ``python benchmarks/validatemigration_vs_migrate.py --help`` for the
options; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    CHANGES,
    AppSpec,
    BenchmarkError,
    Cleanup,
    Project,
    Run,
    Target,
    add_backend_and_run_options,
    apply_change,
    build_apps,
    check_written,
    commit_initial_migrations,
    database_name,
    describe_database,
    forward_statements,
    generate_project,
    median,
    prepared,
    ratio,
    remove_sqlite,
    run_main,
    run_on_targets,
    seconds_list,
    write_models,
)

TARGET_RATIO = 1.3
BENCH_DIR = Path(__file__).resolve().parent
#: Prefix of the line a child process prints its measurements on (JSON).
MARKER = "@@validatemigration_vs_migrate@@ "
#: How many tables of the app get rows for the sample copy (plus the changed models).
SAMPLE_TABLES = 4
#: validation.json steps that are not part of the comparison.
EXCLUDED_STEPS = ("sample",)


# -- what runs in the child processes (inside ``manage.py shell``) ----------------------------


def child_migrate(spec: str) -> None:
    """Time ``migrate`` forwards then backwards on an empty database, for each target of ``spec``.

    ``spec`` is a JSON list of ``{"database", "app", "migration", "previous", "parents"}``. Before
    the clock starts, the migration files are imported and the empty database is migrated to the
    parent state; prints ``MARKER`` and a JSON list of ``{"setup", "forwards", "backwards"}``.
    """
    from django.core.management import call_command, load_command_class
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.recorder import MigrationRecorder

    MigrationLoader(None, ignore_no_migrations=True)  # import every migration file
    load_command_class("django.core", "migrate")
    results = []
    for target in json.loads(spec):
        # Point the default alias at the (empty) database the parent process created.
        connections["default"].close()
        connections.settings["default"]["NAME"] = target["database"]
        with contextlib.suppress(AttributeError):
            del connections["default"]
        app, migration = target["app"], target["migration"]

        started = time.perf_counter()
        for parent_app, parent in target["parents"]:
            call_command("migrate", parent_app, parent, verbosity=0, interactive=False)
        forwards = time.perf_counter()
        call_command("migrate", app, migration, verbosity=0, interactive=False)
        forwards_seconds = time.perf_counter() - forwards
        applied = MigrationRecorder(connections["default"]).applied_migrations()
        if (app, migration) not in applied:
            raise SystemExit(f"migrate did not apply {app}.{migration}")
        backwards = time.perf_counter()
        call_command("migrate", app, target["previous"], verbosity=0, interactive=False)
        backwards_seconds = time.perf_counter() - backwards

        applied = MigrationRecorder(connections["default"]).applied_migrations()
        if (app, migration) in applied:
            raise SystemExit(f"migrate did not unapply {app}.{migration}")
        connections["default"].close()
        results.append(
            {
                "setup": forwards - started,
                "forwards": forwards_seconds,
                "backwards": backwards_seconds,
            }
        )
    print(MARKER + json.dumps(results), flush=True)


def child_validate(spec: str) -> None:
    """Time one ``validatemigration`` command; ``spec`` is ``{"labels": [...], "options": {...}}``.

    Before the clock starts, as on the migrate side: the migration files are imported and the
    default database is connected. Prints ``MARKER`` and ``{"seconds": ...}``.
    """
    from django.core.management import call_command, load_command_class
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    options = json.loads(spec)
    MigrationLoader(None, ignore_no_migrations=True)
    load_command_class("migration_studio", "validatemigration")
    connections["default"].ensure_connection()
    started = time.perf_counter()
    call_command(
        "validatemigration", *options["labels"], all_bundles=True, verbosity=0, **options["options"]
    )
    print(MARKER + json.dumps({"seconds": time.perf_counter() - started}), flush=True)


# -- the bundles ---------------------------------------------------------------------------------


@dataclass
class BundleInfo:
    app: str
    name: str
    operations: int
    statements: int  # in up.sql: forward statements, deferred included
    parents: list[tuple[str, str]]  # the migrations it depends on: the parent state
    previous: str  # what ``migrate <app> <previous>`` goes back to

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}"

    @property
    def path_parts(self) -> tuple[str, str]:
        return self.app, self.name


def read_bundles(project: Project) -> list[BundleInfo]:
    bundles = []
    for file in sorted(project.bundle_root.glob("*/*/bundle.json")):
        data = json.loads(file.read_text())
        parents = [(app, name) for app, name in data["dependencies"]]
        if any(name.startswith("__") for _, name in parents):
            raise BenchmarkError(f"{file}: dependencies like {parents} are not supported.")
        own = [name for app, name in parents if app == data["app_label"]]
        bundles.append(
            BundleInfo(
                app=data["app_label"],
                name=data["migration_name"],
                operations=len(data["operations"]),
                statements=forward_statements(data),
                parents=parents,
                previous=own[0] if len(own) == 1 else "zero",
            )
        )
    return bundles


def validation_of(project: Project, bundle: BundleInfo) -> dict[str, Any]:
    file = project.bundle_root / bundle.app / bundle.name / "validation.json"
    data = json.loads(file.read_text())
    if data["status"] != "passed":
        raise BenchmarkError(f"{bundle.label} did not pass validation: {data.get('error')}")
    return data


def step_seconds(validation: dict[str, Any]) -> dict[str, float]:
    return {step["name"]: step["seconds"] for step in validation["steps"]}


# -- measurements --------------------------------------------------------------------------------


@dataclass
class Series:
    """One comparison over the rounds: the migrate round trips against validatemigration."""

    bundles: list[BundleInfo]
    forwards: list[float] = field(default_factory=list)
    backwards: list[float] = field(default_factory=list)
    #: Wall-clock of the migrate process minus its untimed part (migrating to the parent state).
    migrate_process: list[float] = field(default_factory=list)
    validate: list[float] = field(default_factory=list)
    validate_process: list[float] = field(default_factory=list)
    #: Per validatemigration run: step name -> seconds, summed over the bundles.
    steps: list[dict[str, float]] = field(default_factory=list)
    #: validatemigration runs that built a parent state instead of using the cached one.
    missed: list[float] = field(default_factory=list)

    @property
    def migrate(self) -> list[float]:
        return [f + b for f, b in zip(self.forwards, self.backwards, strict=True)]

    @property
    def step_totals(self) -> list[float]:
        return [
            sum(s for name, s in steps.items() if name not in EXCLUDED_STEPS)
            for steps in self.steps
        ]

    def median_steps(self) -> dict[str, float]:
        names = dict.fromkeys(name for steps in self.steps for name in steps)
        return {name: median(s.get(name, 0.0) for s in self.steps) for name in names}

    def ratio(self, validate: list[float], migrate: list[float] | None = None) -> float:
        return ratio(validate, migrate or self.migrate)


@dataclass
class SampleRun:
    rows: int
    rows_per_second: float
    step: float  # the sample step, seconds
    command: float  # the whole validatemigration command, seconds


@dataclass
class Result:
    target: Target
    bundles: list[BundleInfo]
    single: Series
    every: Series
    write_seconds: float = 0.0
    first_runs: dict[str, float] = field(default_factory=dict)
    sample_tables: dict[str, int] = field(default_factory=dict)
    samples: list[SampleRun] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    #: PostgreSQL: median seconds of the baseline's CREATE DATABASE and DROP DATABASE (untimed).
    empty_create_drop: tuple[float, float] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def sample_rows_per_second(self) -> float:
        return median(s.rows_per_second for s in self.samples)


# -- databases the benchmark creates besides the project's ------------------------------------


@dataclass
class EmptyDatabases:
    """The baseline's empty databases: one per migrate round trip, dropped right after it."""

    project: Project
    live: set[str] = field(default_factory=set)
    #: PostgreSQL: seconds of each CREATE DATABASE and DROP DATABASE (a connection included), for
    #: comparison with the scratch database validatemigration creates from its cached state.
    create_seconds: list[float] = field(default_factory=list)
    drop_seconds: list[float] = field(default_factory=list)

    def create(self) -> str:
        """A new empty database: a new SQLite file name, or ``CREATE DATABASE`` on PostgreSQL."""
        if self.project.postgres is None:
            name = str(self.project.tmp / "baseline" / f"empty_{uuid.uuid4().hex[:12]}.sqlite3")
            Path(name).parent.mkdir(exist_ok=True)
        else:
            name = database_name("ms_bench_empty_", 12)
            self.live.add(name)  # from here on: dropped at the end, whatever happens
            started = time.perf_counter()
            self.project.postgres.create_database(name)
            self.create_seconds.append(time.perf_counter() - started)
        self.live.add(name)  # SQLite: the file appears when the child connects
        return name

    def drop(self, name: str) -> None:
        started = time.perf_counter()
        if self.project.postgres is None:
            remove_sqlite(Path(name))
        else:
            self.project.postgres.drop_database(name)
            self.drop_seconds.append(time.perf_counter() - started)
        self.live.discard(name)

    def drop_all(self) -> None:
        for name in sorted(self.live):
            self.drop(name)


# -- running the two sides -----------------------------------------------------------------------


@dataclass
class ChildRun:
    run: Run
    measured: Any  # what the child printed after MARKER
    published: set[str]  # cached states the run published


def in_child(project: Project, function: Callable[[str], None], spec: Any) -> ChildRun:
    """Run ``function(json.dumps(spec))`` in a fresh ``manage.py shell`` process."""
    code = (
        f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r}); "
        f"import {Path(__file__).stem} as bench; bench.{function.__name__}({json.dumps(spec)!r})"
    )
    run, new = project.tracked("shell", "--no-imports", "-c", code)
    lines = [line for line in run.stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise BenchmarkError(f"{function.__name__} printed no measurements:\n{run.stdout}")
    return ChildRun(run, json.loads(lines[-1][len(MARKER) :]), new)


def time_migrate(project: Project, empty: EmptyDatabases, series: Series) -> None:
    """One process: each bundle's migrate round trip on its own new empty database."""
    targets = []
    for bundle in series.bundles:
        targets.append(
            {
                "database": empty.create(),
                "app": bundle.app,
                "migration": bundle.name,
                "previous": bundle.previous,
                "parents": bundle.parents,
            }
        )
    try:
        child = in_child(project, child_migrate, targets)
    finally:
        for target in targets:
            empty.drop(target["database"])
    results = child.measured
    series.forwards.append(sum(r["forwards"] for r in results))
    series.backwards.append(sum(r["backwards"] for r in results))
    series.migrate_process.append(child.run.seconds - sum(r["setup"] for r in results))


def time_validate(project: Project, series: Series, result: Result) -> None:
    labels = [series.bundles[0].app, series.bundles[0].name] if len(series.bundles) == 1 else []
    child = in_child(project, child_validate, {"labels": labels, "options": {}})
    if child.published:
        result.warnings.append(
            "a timed validatemigration run built a parent state instead of using the cached "
            "one; it is not counted"
        )
        series.missed.append(child.measured["seconds"])
        return
    steps: dict[str, float] = {}
    for bundle in series.bundles:
        for name, seconds in step_seconds(validation_of(project, bundle)).items():
            steps[name] = steps.get(name, 0.0) + seconds
    series.validate.append(child.measured["seconds"])
    series.validate_process.append(child.run.seconds)
    series.steps.append(steps)


def time_sample(project: Project, bundle: BundleInfo, rows: int, result: Result) -> None:
    options = {"sample_from": "default", "sample_rows": rows}
    child = in_child(
        project, child_validate, {"labels": list(bundle.path_parts), "options": options}
    )
    data = validation_of(project, bundle)
    expected = sum(result.sample_tables.values())
    if data["sample_rows"] != expected:
        result.warnings.append(
            f"the sample copy copied {data['sample_rows']} rows, {expected} expected"
        )
    result.samples.append(
        SampleRun(
            rows=data["sample_rows"],
            rows_per_second=data["sample_rows_per_second"],
            step=step_seconds(data).get("sample", 0.0),
            command=child.measured["seconds"],
        )
    )


# -- the sample data -----------------------------------------------------------------------------


def sample_models(app_index: int) -> list[str]:
    """Model names to fill: the first few, the changed ones and what they reference (FK order)."""
    original = build_apps()[app_index]
    wanted = set(range(SAMPLE_TABLES)) | {m for a, m, *_ in CHANGES if a == app_index}
    wanted |= {m - 1 for m in wanted if m % 2 == 1}  # odd models reference the previous one
    return [original.models[m].name for m in sorted(wanted)]


def fill_source(project: Project, app_index: int, rows: int) -> dict[str, int]:
    """Insert ``rows`` rows into some tables of the app (the 0001 schema) with one SQL statement
    each; returns ``{table: rows}``."""
    original: AppSpec = build_apps()[app_index]
    postgres = project.postgres is not None
    count = int(rows)
    source = f"generate_series(1, {count}) AS seq(n)" if postgres else "seq"
    statements = []
    for name in sample_models(app_index):
        model = next(m for m in original.models if m.name == name)
        columns, values = ["id"], ["n"]
        for spec in model.fields:
            columns.append(f"{spec.name}_id" if spec.kind == "ForeignKey" else spec.name)
            values.append(
                {
                    "CharField": f"'{spec.name}-' || n",
                    "IntegerField": "n % 1000",
                    "DecimalField": "(n % 100000) * 0.01",
                    "DateTimeField": "CURRENT_TIMESTAMP",
                    "ForeignKey": "n",  # the referenced table has the same ids
                }[spec.kind]
            )
        table = f"{original.label}_{name.lower()}"
        select = f"SELECT {', '.join(values)} FROM {source}"
        statements.append((table, f'INSERT INTO "{table}" ({", ".join(columns)}) {select}'))
    if project.postgres is not None:
        import psycopg

        conninfo = project.postgres.conninfo_for(project.database["NAME"])
        with psycopg.connect(conninfo, autocommit=True) as connection:
            for table, sql in statements:
                connection.execute(sql)
                connection.execute(f'ANALYZE "{table}"')
    else:
        recursive = (
            f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count})"
        )
        database = project.database["NAME"]
        with contextlib.closing(sqlite3.connect(database)) as connection, connection:
            for _, sql in statements:
                connection.execute(f"{recursive} {sql}")
    return {table: count for table, _ in statements}


# -- the benchmark -------------------------------------------------------------------------------


def prepare(project: Project) -> tuple[list[BundleInfo], float]:
    """The project with 5 bundles written by makesafemigration; returns them and its seconds."""
    generate_project(project)
    commit_initial_migrations(project)
    # The project's database at the committed history: the sample's source, and the records.
    project.manage("migrate", "--noinput", "-v", "0")
    apply_change(project.apps)
    write_models(project)
    run, _ = project.tracked("makesafemigration", "--noinput")
    check_written(project)
    bundles = read_bundles(project)
    if len(bundles) != len({a for a, *_ in CHANGES}):
        raise BenchmarkError(f"Expected 5 bundles, found {[b.label for b in bundles]}.")
    return bundles, run.seconds


def benchmark(project: Project, args: argparse.Namespace, empty: EmptyDatabases) -> Result:
    bundles, write_seconds = prepare(project)
    # The bundle timed alone: the most operations, then the most statements (first by name).
    main = max(bundles, key=lambda b: (b.operations, b.statements))
    result = Result(project.target, bundles, Series([main]), Series(bundles))
    result.write_seconds = write_seconds

    # Untimed: the first validations build and cache each parent state (validatemigration starts
    # from the migration's own ancestors, a state makesafemigration did not cache).
    for label, command in (
        (main.label, ("validatemigration", main.app, main.name, "--all", "-v", "0")),
        ("the other 4", ("validatemigration", "--all", "-v", "0")),
    ):
        run, new = project.tracked(*command)
        result.first_runs[label] = run.seconds
        if not new:
            result.warnings.append(f"the first validation of {label} cached no parent state")
    time_migrate(project, empty, Series([main]))  # untimed warm-up: OS caches, .pyc files

    for round_ in range(args.repeat):
        # Alternate the order, so neither side always runs right after the other.
        for series in (result.single, result.every):
            for side in ("migrate", "validate") if round_ % 2 == 0 else ("validate", "migrate"):
                if side == "migrate":
                    time_migrate(project, empty, series)
                else:
                    time_validate(project, series, result)
    for series in (result.single, result.every):
        if not series.validate:
            raise BenchmarkError("Every timed validatemigration run missed the cache.")

    app_index = next(i for i, app in enumerate(project.apps) if app.label == main.app)
    result.sample_tables = fill_source(project, app_index, args.sample_rows)
    for _ in range(args.repeat):
        time_sample(project, main, args.sample_rows, result)
    return result


@contextlib.contextmanager
def benchmarked(
    target: Target, args: argparse.Namespace
) -> Iterator[tuple[Project, EmptyDatabases]]:
    """``harness.prepared()``'s project (dropped on exit with every cached state of the project
    and scratch database of its processes) plus the baseline's databases, also dropped."""
    with (
        prepared(target, timeout=args.timeout, verbose=args.verbose) as project,
        Cleanup() as cleanup,
    ):
        empty = EmptyDatabases(project)
        cleanup.callback(empty.drop_all)
        yield project, empty


def run_target(target: Target, args: argparse.Namespace) -> Result:
    with benchmarked(target, args) as (project, empty):
        print(f"\n== {target.label}: {describe_database(project.database)} ==")
        print(
            f"   {len(project.apps)} apps x {len(project.apps[0].models)} models; "
            f"{args.repeat} rounds of each comparison ...",
            flush=True,
        )
        result = benchmark(project, args, empty)
        result.leftovers = project.leftover_scratch() + sorted(empty.live)
        if empty.create_seconds:
            result.empty_create_drop = (
                median(empty.create_seconds),
                median(empty.drop_seconds),
            )
        if result.leftovers:
            result.warnings.append(f"databases left behind: {result.leftovers}")
        print_details(result)
        return result


# -- output --------------------------------------------------------------------------------------


def _line(name: str, times: list[float], figure: str = "") -> str:
    return (
        f"     {name:<46} median {median(times):7.3f}s  min {min(times):7.3f}s"
        f"  {figure:>6}  runs: {seconds_list(times, 3)}"
    )


def print_series(title: str, series: Series) -> None:
    print(f"   {title}")
    print(_line("migrate forwards + backwards (in process)", series.migrate))
    print(
        f"       forwards {median(series.forwards):.3f}s, "
        f"backwards {median(series.backwards):.3f}s (medians)"
    )
    print(
        _line(
            "validatemigration command (in process)",
            series.validate,
            f"{series.ratio(series.validate):.2f}x",
        )
    )
    steps = series.median_steps()
    outside = median(series.validate) - sum(steps.values())
    print(
        _line(
            "validatemigration steps (validation.json)",
            series.step_totals,
            f"{series.ratio(series.step_totals):.2f}x",
        )
    )
    print(f"       {'  '.join(f'{name} {s:.3f}' for name, s in steps.items())}")
    print(f"       outside the steps (graph, scratch copy and drop, records): {outside:.3f}s")
    print(_line("process wall-clock: migrate", series.migrate_process))
    print(
        _line(
            "process wall-clock: validatemigration",
            series.validate_process,
            f"{series.ratio(series.validate_process, series.migrate_process):.2f}x",
        )
    )
    if series.missed:
        print(f"       cache misses (not counted): {seconds_list(series.missed, 3)}")


def print_details(result: Result) -> None:
    main = result.single.bundles[0]
    print(
        f"   makesafemigration wrote {len(result.bundles)} migrations + bundles in "
        f"{result.write_seconds:.2f}s: "
        + ", ".join(f"{b.label} ({b.operations} ops, {b.statements} stmts)" for b in result.bundles)
    )
    print(
        "   first validations (manage.py, build the cached parent states): "
        + ", ".join(f"{label} {s:.2f}s" for label, s in result.first_runs.items())
    )
    if result.empty_create_drop:
        print(
            "   the migrate side's empty databases (not timed): CREATE DATABASE median "
            f"{result.empty_create_drop[0]:.3f}s, DROP DATABASE {result.empty_create_drop[1]:.3f}s"
        )
    print_series(f"one bundle: {main.label} ({main.operations} operations)", result.single)
    print_series(f"all {len(result.bundles)} bundles in one run", result.every)
    tables = len(result.sample_tables)
    rows = sum(result.sample_tables.values())
    print(
        f"   sample copy: {rows:,} rows from {tables} tables of {main.app} "
        f"(--sample-rows {max(result.sample_tables.values()):,})"
    )
    print(
        f"     rows/s median {result.sample_rows_per_second:,.0f}  "
        f"runs: {' '.join(f'{s.rows_per_second:,.0f}' for s in result.samples)}"
    )
    print(
        f"     sample step median {median(s.step for s in result.samples):.3f}s; "
        f"whole command median {median(s.command for s in result.samples):.3f}s"
    )
    print(f"   scratch databases left behind: {', '.join(result.leftovers) or 'none'}")
    for warning in dict.fromkeys(result.warnings):
        print(f"   WARNING: {warning}")


def print_summary(results: list[Result], failures: dict[str, str]) -> None:
    print(
        f"\nSummary (medians; target: validatemigration command / migrate round trip <= "
        f"{TARGET_RATIO}x, one bundle)"
    )
    for r in results:
        one, every = r.single, r.every
        figure = one.ratio(one.validate)
        verdict = "OK" if figure <= TARGET_RATIO else "ABOVE TARGET"
        print(
            f"{r.target.label:<11} migrate {median(one.migrate):.3f}s  "
            f"validatemigration {median(one.validate):.3f}s ({figure:.2f}x, "
            f"steps {one.ratio(one.step_totals):.2f}x, process "
            f"{one.ratio(one.validate_process, one.migrate_process):.2f}x)  "
            f"all 5: {every.ratio(every.validate):.2f}x  "
            f"sample {r.sample_rows_per_second:,.0f} rows/s  {verdict}"
        )
    for label, error in failures.items():
        print(f"{label:<11} FAILED: {error.splitlines()[0]}")


# -- command line --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time validatemigration against migrate forwards + backwards of the same "
        "migration on the generated 200-model project.",
    )
    add_backend_and_run_options(
        parser, check_help=f"exit with status 1 when the one-bundle ratio is above {TARGET_RATIO}x"
    )
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=20_000,
        metavar="N",
        help="rows per table in the sample copy's source tables (default: 20000)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.sample_rows < 1:
        parser.error("--sample-rows must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    return run_on_targets(
        args,
        "migration_studio_vbench_",
        run_target,
        print_summary,
        lambda r: r.single.ratio(r.single.validate) > TARGET_RATIO,
    )


if __name__ == "__main__":
    sys.exit(main())
