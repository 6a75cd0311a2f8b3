#!/usr/bin/env python
"""Benchmark ``makesafemigration --dry-run`` against plain ``makemigrations --dry-run``.

The script generates a throw-away Django project (20 apps x 10 models), commits each app's
``0001_initial`` with ``makemigrations``, then changes 10 models across 5 apps and times, each in a
fresh ``python manage.py`` subprocess:

* one *cold* ``makesafemigration --dry-run`` (migration_studio's scratch cache cleared first),
* ``--repeat`` *warm* runs of ``makemigrations --dry-run`` and ``makesafemigration --dry-run``,
  interleaved,

and finally runs ``makesafemigration`` for real once, to check that migration files and bundles are
written and that no scratch database is left behind. Everything it creates (the temporary
directory, the PostgreSQL databases) is removed at the end, also on errors and on Ctrl-C/SIGTERM.

The generated project, the ``manage.py`` runs, the databases and the cleanup are ``harness.py``'s
(beside this script); it needs Django and migration_studio installed in the Python that runs it,
and psycopg for PostgreSQL. Run ``python benchmarks/makesafemigration_vs_makemigrations.py
--help`` for the options; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from harness import (
    DEFAULT_POSTGRES_SERVER,
    EXIT_USAGE,
    BenchmarkError,
    Change,
    FieldSpec,
    Project,
    Run,
    Target,
    add_field,
    apply_change,
    changed_apps,
    check_written,
    commit_initial_migrations,
    default_targets,
    describe_database,
    exit_status,
    generate_project,
    has_files,
    median,
    parse_target,
    prepared,
    ratio,
    run_main,
    seconds_list,
    set_option,
    write_models,
)

#: The target: median warm makesafemigration --dry-run / median makemigrations --dry-run.
TARGET_WARM_RATIO = 1.3

#: The next change, made after the first one landed (its migrations written): 2 models.
NEXT_CHANGES: list[Change] = [
    (
        2,
        0,
        "add a nullable CharField",
        add_field(FieldSpec("remark", "CharField", {"max_length": "40", "null": "True"})),
    ),
    (6, 1, "add db_index=True", set_option("code", "db_index", "True")),
]


# -- the benchmark -------------------------------------------------------------------------------


@dataclass
class Result:
    target: Target
    change: list[str]
    plain: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)  # warm runs served from the cache
    missed: list[float] = field(default_factory=list)  # "warm" runs that missed the cache
    cold: float = 0.0
    write_seconds: float = 0.0
    written: str = ""
    #: The next change after the first one landed: makesafemigration starts from the closest
    #: cached state (the first change's migrations are new), versus makemigrations.
    next_safe: float = 0.0
    next_plain: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def plain_median(self) -> float:
        return median(self.plain)

    @property
    def warm_median(self) -> float:
        return median(self.warm)

    @property
    def warm_ratio(self) -> float:
        return ratio(self.warm, self.plain)

    @property
    def cold_ratio(self) -> float:
        return ratio(self.cold, self.plain)

    @property
    def next_ratio(self) -> float:
        return ratio(self.next_safe, self.next_plain)


DRY_RUN = ("--dry-run", "--noinput")


def check_detected(run: Run, apps: list[str]) -> None:
    """The dry run must have found migrations for exactly the changed apps."""
    missing = [app for app in apps if f"Migrations for '{app}'" not in run.stdout]
    if missing:
        raise BenchmarkError(
            f"manage.py {run.command} found no changes in {missing}:\n{run.stdout}"
        )
    if run.command.startswith("makesafemigration") and "Bundles (dry run" not in run.stdout:
        raise BenchmarkError(f"manage.py {run.command} printed no bundles:\n{run.stdout}")


def timed_safe_run(project: Project, result: Result, *, cold: bool) -> tuple[float, bool]:
    """One ``makesafemigration --dry-run``: its time, and whether it behaved as expected.

    A cold run must fill the cache (publish a cached state); a warm run must use it (publish none).
    """
    before = project.cached_states()
    if not cold and not project.cache_entries <= before:
        result.warnings.append(
            "the cached state was evicted before a warm run (by another "
            "process on the same server?)"
        )
    run, new = project.tracked("makesafemigration", *DRY_RUN)
    check_detected(run, changed_apps(project.apps))
    if cold and not new:
        result.warnings.append("the cold run published no cached state: warm runs are cold too")
    if not cold and new:
        result.warnings.append(
            f"a warm run missed the cache and published {sorted(new)}; it is not counted as warm"
        )
    return run.seconds, bool(new) == cold


def benchmark(project: Project, repeat: int) -> Result:
    """Generate the project, apply the change and time both commands (see the module docstring)."""
    generate_project(project)
    commit_initial_migrations(project)
    if has_files(project.bundle_root):
        raise BenchmarkError("makemigrations wrote bundles")
    change = apply_change(project.apps)
    write_models(project)
    result = Result(project.target, change)
    changed = changed_apps(project.apps)

    # Untimed: compile the edited models.py and warm the OS caches, so the cold run only pays for
    # migration_studio's cold cache.
    check_detected(project.manage("makemigrations", *DRY_RUN), changed)

    project.clear_cache()
    result.cold, _ = timed_safe_run(project, result, cold=True)

    for round_ in range(repeat):
        # Alternate the order, so neither command always runs right after the other.
        for command in ("plain", "safe") if round_ % 2 == 0 else ("safe", "plain"):
            if command == "plain":
                run = project.manage("makemigrations", *DRY_RUN)
                check_detected(run, changed)
                result.plain.append(run.seconds)
            else:
                seconds, hit = timed_safe_run(project, result, cold=False)
                (result.warm if hit else result.missed).append(seconds)
    if not result.warm:
        raise BenchmarkError("Every warm makesafemigration run missed the cache.")

    written = sorted(project.root.glob("*/migrations/0002_*.py"))
    if written or has_files(project.bundle_root):
        raise BenchmarkError(f"A --dry-run wrote files: {written or project.bundle_root}")

    run, _ = project.tracked("makesafemigration", "--noinput")
    result.write_seconds = run.seconds
    result.written = check_written(project)

    apply_change(project.apps, NEXT_CHANGES)
    write_models(project)
    project.manage("makemigrations", *DRY_RUN)  # untimed: compiles the edited models.py
    result.next_plain = project.manage("makemigrations", *DRY_RUN).seconds
    run, new = project.tracked("makesafemigration", *DRY_RUN)
    if not new:
        result.warnings.append("the run after the first change landed published no state")
    result.next_safe = run.seconds
    return result


def run_target(target: Target, args: argparse.Namespace) -> Result:
    with prepared(target, timeout=args.timeout, verbose=args.verbose) as project:
        print(f"\n== {target.label}: {describe_database(project.database)} ==")
        print(
            f"   {len(project.apps)} apps x {len(project.apps[0].models)} models; "
            f"timing {args.repeat} warm runs of each command ...",
            flush=True,
        )
        result = benchmark(project, args.repeat)
        leftovers = project.leftover_scratch()
        if leftovers:
            result.warnings.append(f"scratch databases left behind: {leftovers}")
        print_details(result, leftovers)
        return result


# -- output --------------------------------------------------------------------------------------


def print_details(result: Result, leftovers: list[str]) -> None:
    print("   change (10 models):")
    for line in result.change:
        print(f"     - {line}")
    rows = [
        ("makemigrations --dry-run", result.plain, ""),
        ("makesafemigration --dry-run, warm", result.warm, f"{result.warm_ratio:.2f}x"),
    ]
    for name, times, figure in rows:
        print(
            f"   {name:<36} median {median(times):6.2f}s  "
            f"min {min(times):6.2f}s  ({len(times)} runs)  {figure}"
        )
    print(
        f"   {'makesafemigration --dry-run, cold':<36} {result.cold:13.2f}s"
        f"  {'':>21} {result.cold_ratio:.2f}x"
    )
    print(
        f"   {'makesafemigration (writes files)':<36} {result.write_seconds:13.2f}s"
        f"  {result.written}"
    )
    print(
        f"   {'next change, after the first landed':<36} {result.next_safe:13.2f}s"
        f"  {'':>21} {result.next_ratio:.2f}x"
        f"  (makemigrations {result.next_plain:.2f}s; closest cached state + new migrations)"
    )
    print(f"   all runs (s): makemigrations {seconds_list(result.plain)}")
    print(f"                 makesafemigration warm {seconds_list(result.warm)}")
    if result.missed:
        print(
            "                 makesafemigration cache misses (not warm) "
            f"{seconds_list(result.missed)}"
        )
    print(f"   scratch databases left behind: {', '.join(leftovers) or 'none'}")
    for warning in dict.fromkeys(result.warnings):
        print(f"   WARNING: {warning}")


def print_summary(results: list[Result], failures: dict[str, str]) -> None:
    print(f"\nSummary (median of warm runs; target: warm ratio <= {TARGET_WARM_RATIO}x)")
    for r in results:
        verdict = "OK" if r.warm_ratio <= TARGET_WARM_RATIO else "ABOVE TARGET"
        print(
            f"{r.target.label:<11} makemigrations {r.plain_median:5.2f}s  "
            f"makesafemigration warm {r.warm_median:5.2f}s ({r.warm_ratio:.2f}x)  "
            f"cold {r.cold:5.2f}s ({r.cold_ratio:.2f}x)  "
            f"next change {r.next_ratio:.2f}x  {verdict}"
        )
    for label, error in failures.items():
        print(f"{label:<11} FAILED: {error.splitlines()[0]}")


# -- command line --------------------------------------------------------------------------------


def targets_from(args: argparse.Namespace) -> list[Target]:
    if args.database_url:
        targets = [parse_target(url) for url in args.database_url]
        if args.backend not in (None, "both") and any(t.backend != args.backend for t in targets):
            raise BenchmarkError("--backend contradicts the scheme of --database-url.")
        return targets
    return default_targets(args.backend or "both", "migration_studio_bench_")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time makesafemigration --dry-run against makemigrations --dry-run on a "
        "generated 200-model project.",
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default=None,
        help="which database(s) to benchmark (default: both); PostgreSQL is "
        f"{DEFAULT_POSTGRES_SERVER}, user postgres, trust authentication",
    )
    parser.add_argument(
        "--database-url",
        action="append",
        metavar="URL",
        help="benchmark this database instead (repeatable): sqlite:// (a file in "
        "the temporary directory), sqlite:////abs/path.db, or "
        "postgres://user@host:port/NAME (NAME must not exist: the script "
        "creates and drops it)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="warm runs of each command (default: 5)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="seconds after which a manage.py run is stopped (default: 600)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit with status 1 when a warm ratio is above {TARGET_WARM_RATIO}x",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print every manage.py command with its output"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    try:
        targets = targets_from(args)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"python {sys.executable}")
    results: list[Result] = []
    failures: dict[str, str] = {}
    for target in targets:
        try:
            results.append(run_target(target, args))
        except BenchmarkError as error:
            failures[target.label] = str(error)
            print(f"   FAILED: {error}", file=sys.stderr)
    print_summary(results, failures)
    return exit_status(
        failed=bool(failures),
        above_target=any(r.warm_ratio > TARGET_WARM_RATIO for r in results),
        check=args.check,
    )


if __name__ == "__main__":
    sys.exit(main())
