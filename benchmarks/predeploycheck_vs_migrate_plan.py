#!/usr/bin/env python
"""Benchmark ``predeploycheck`` (the release gate) against ``migrate --plan`` on the same database.

The script generates the 200-model project of ``harness.py`` (20 apps x 10 models), commits each
app's ``0001_initial`` and migrates the project's database (200 tables), then writes 50 pending
migrations (each adds a nullable column to one model: 2 or 3 per app) and bundles them with
``bundlemigration``. Their bundles derive no check that the data can answer before they run, so
no preflight query is timed. Then, for ``--repeat`` rounds, each in a fresh ``python manage.py
shell`` process with the clock started after Django's set-up and the migration files imported:

* **migrate --plan** (the baseline): ``call_command("migrate", plan=True)``;
* **predeploycheck**: ``call_command("predeploycheck", format="json",
  require_validation=False)``; the target is the ``default`` alias, so the drift check is skipped
  (no scratch server named);
* **predeploycheck + drift**: the same with ``scratch_database="default"``: the live schema of the
  200 tables compared with the applied migrations built on a scratch database (from the cached
  state after the first round, which is reported apart).

The target: the gate over the 50-migration plan in under 5 s. Everything it creates (the temporary
directory, the PostgreSQL databases: the project's, the scratch and cached states) is removed at
the end, also on errors, Ctrl-C and SIGTERM. ``--help`` for the options; see
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    BenchmarkError,
    Column,
    Project,
    Target,
    add_backend_and_run_options,
    commit_initial_migrations,
    format_table,
    generate_project,
    median,
    prepared,
    run_main,
    run_on_targets,
    seconds_list,
)

BENCH_DIR = Path(__file__).resolve().parent
MARKER = "@@predeploycheck-bench@@ "
TARGET_SECONDS = 5.0
PENDING = 50


# -- what runs in the child processes (inside ``manage.py shell``) ----------------------------


def child(spec: str) -> None:
    """Time one command; ``spec`` is ``{"command": ..., "options": {...}}``. Prints ``MARKER``
    and ``{"seconds": ..., "plan": <migrations in the plan>, "verdict": ...}``."""
    from io import StringIO

    from django.core.management import call_command, load_command_class
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    options = json.loads(spec)
    MigrationLoader(None, ignore_no_migrations=True)  # import every migration file
    load_command_class(
        "django.core" if options["command"] == "migrate" else "migration_studio", options["command"]
    )
    connections["default"].ensure_connection()
    out = StringIO()
    started = time.perf_counter()
    with contextlib.suppress(SystemExit):  # the gate's verdict "no" (1) is an answer too
        call_command(options["command"], stdout=out, stderr=StringIO(), **options["options"])
    seconds = time.perf_counter() - started
    if options["command"] == "migrate":
        plan = sum(1 for line in out.getvalue().splitlines() if line.startswith("  "))
        verdict = ""
    else:
        data = json.loads(out.getvalue())
        plan, verdict = len(data["plan"]), data["verdict"]
        verdict += " / drift " + next(c["status"] for c in data["checks"] if c["name"] == "drift")
    print(MARKER + json.dumps({"seconds": seconds, "plan": plan, "verdict": verdict}), flush=True)


def in_child(project: Project, command: str, **options: object) -> dict:
    spec = json.dumps({"command": command, "options": options})
    code = (
        f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r}); "
        f"import {Path(__file__).stem} as bench; bench.child({spec!r})"
    )
    run, _ = project.tracked("shell", "--no-imports", "-c", code)
    lines = [line for line in run.stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise BenchmarkError(f"{command} printed no measurement:\n{run.stdout}{run.stderr}")
    return json.loads(lines[-1][len(MARKER) :])


# -- the project -------------------------------------------------------------------------------


def write_pending_migrations(project: Project) -> int:
    """50 migrations after each app's 0001_initial, each adding a nullable column."""
    written = 0
    per_app = [
        3 if index < PENDING - 2 * len(project.apps) else 2 for index in range(len(project.apps))
    ]
    for app, count in zip(project.apps, per_app, strict=True):
        previous = "0001_initial"
        for number in range(2, 2 + count):
            model = app.models[number % len(app.models)].name.lower()
            name = f"{number:04d}_pending"
            (project.root / app.label / "migrations" / f"{name}.py").write_text(
                "from django.db import migrations, models\n\n\n"
                "class Migration(migrations.Migration):\n"
                f"    dependencies = [({app.label!r}, {previous!r})]\n"
                "    operations = [\n"
                f"        migrations.AddField({model!r}, 'pending_{number}', "
                "models.CharField(max_length=20, null=True)),\n"
                "    ]\n"
            )
            previous = name
            written += 1
    return written


@dataclass
class Result:
    label: str
    tables: int
    plan: int = 0
    migrate: list[float] = field(default_factory=list)
    gate: list[float] = field(default_factory=list)
    drift_first: float = 0.0
    drift: list[float] = field(default_factory=list)
    verdicts: set[str] = field(default_factory=set)


def run_target(target: Target, args: argparse.Namespace) -> Result:
    print(f"== {target.label}")
    with prepared(target, timeout=args.timeout, verbose=args.verbose) as project:
        generate_project(project)
        commit_initial_migrations(project)
        project.manage("migrate", "--noinput", "-v", "0")
        tables = sum(len(app.models) for app in project.apps)
        pending = write_pending_migrations(project)
        print(f"   {tables} model tables migrated; {pending} pending migrations; bundling them")
        for app in project.apps:
            project.manage("bundlemigration", app.label, "-v", "0")
        result = Result(target.label, tables)
        gate = {"format": "json", "require_validation": False}
        first = in_child(project, "predeploycheck", **gate, scratch_database="default")
        result.drift_first = first["seconds"]
        for _ in range(args.repeat):
            migrate = in_child(project, "migrate", plan=True)
            result.migrate.append(migrate["seconds"])
            judged = in_child(project, "predeploycheck", **gate)
            result.gate.append(judged["seconds"])
            result.plan = judged["plan"]
            result.verdicts.add(judged["verdict"])
            drift = in_child(project, "predeploycheck", **gate, scratch_database="default")
            result.drift.append(drift["seconds"])
            result.verdicts.add(drift["verdict"])
            if migrate["plan"] != judged["plan"]:
                raise BenchmarkError(
                    f"migrate --plan lists {migrate['plan']} migrations, the gate {judged['plan']}."
                )
        print(
            f"   migrate --plan {seconds_list(result.migrate)}; predeploycheck "
            f"{seconds_list(result.gate)}; + drift {seconds_list(result.drift)} (first, cold "
            f"cache: {result.drift_first:.2f}s); verdicts {sorted(result.verdicts)}"
        )
        return result


def print_summary(results: list[Result], failures: dict[str, str]) -> None:
    columns = [
        Column("database", "<"),
        Column("plan", ">"),
        Column("migrate --plan", ">"),
        Column("predeploycheck", ">"),
        Column("ratio", ">"),
        Column("+ drift", ">"),
        Column("ratio", ">"),
        Column(f"under {TARGET_SECONDS:g}s", "<"),
    ]
    rows = []
    for r in results:
        base, gate, drift = median(r.migrate), median(r.gate), median(r.drift)
        rows.append(
            [
                r.label,
                str(r.plan),
                f"{base:.2f}s",
                f"{gate:.2f}s",
                f"{gate / base:.1f}x",
                f"{drift:.2f}s",
                f"{drift / base:.1f}x",
                "yes" if max(gate, drift) < TARGET_SECONDS else "NO",
            ]
        )
    for label, error in failures.items():
        rows.append([label, "-", "-", "-", "-", "-", "-", f"FAILED: {error}"])
    print()
    print("Medians; the gate with and without the drift check (warm cache):")
    print("\n".join(format_table(columns, rows)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time predeploycheck against migrate --plan over a plan of 50 migrations on "
        "a database of 200 tables.",
    )
    add_backend_and_run_options(
        parser, check_help=f"exit with status 1 when the gate takes {TARGET_SECONDS:g}s or more"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    return run_on_targets(
        args,
        "migration_studio_gbench_",
        run_target,
        print_summary,
        lambda r: max(median(r.gate), median(r.drift)) >= TARGET_SECONDS,
    )


if __name__ == "__main__":
    sys.exit(main())
