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

Only the standard library, Django (in the child processes) and psycopg (for PostgreSQL) are used.
Run ``python benchmarks/makesafemigration_vs_makemigrations.py --help`` for the options; see
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# Names migration_studio gives the databases it creates (see migration_studio/scratch.py).
SCRATCH_PREFIX = "migration_studio_scratch_"
CACHE_PREFIX = "migration_studio_cache_"

DEFAULT_POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
TARGET_WARM_RATIO = 1.5
SETTINGS_PACKAGE = "benchproject"

APP_LABELS = [
    "accounts", "billing", "catalog", "crm", "delivery",
    "documents", "forum", "helpdesk", "inventory", "invoicing",
    "leads", "loyalty", "marketing", "notifications", "orders",
    "payments", "reviews", "shipping", "subscriptions", "warehouse",
]  # fmt: skip
MODEL_NAMES = [
    "Record", "Entry", "Item", "Batch", "Note",
    "Label", "Rule", "Event", "Snapshot", "Attachment",
]  # fmt: skip


class BenchmarkError(Exception):
    """The benchmark could not run or a check failed; the message is for the user."""


# -- the generated project ---------------------------------------------------------------------


@dataclass
class FieldSpec:
    """One model field: ``name = models.<kind>(<kwargs>)``; kwarg values are Python source."""

    name: str
    kind: str
    kwargs: dict[str, str]

    def render(self) -> str:
        arguments = ", ".join(f"{key}={value}" for key, value in self.kwargs.items())
        return f"{self.name} = models.{self.kind}({arguments})"


@dataclass
class IndexSpec:
    """A ``Meta.indexes`` entry."""

    fields: list[str]
    name: str

    def render(self) -> str:
        return f"models.Index(fields={self.fields!r}, name={self.name!r})"


@dataclass
class ModelSpec:
    name: str
    fields: list[FieldSpec]
    indexes: list[IndexSpec] = field(default_factory=list)

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    def render(self) -> str:
        lines = [f"class {self.name}(models.Model):"]
        lines += [f"    {f.render()}" for f in self.fields]
        if self.indexes:
            lines += ["", "    class Meta:", "        indexes = ["]
            lines += [f"            {index.render()}," for index in self.indexes]
            lines += ["        ]"]
        lines += ["", "    def __str__(self) -> str:", "        return self.name"]
        return "\n".join(lines)


@dataclass
class AppSpec:
    label: str
    models: list[ModelSpec]

    def render_models(self) -> str:
        body = "\n\n\n".join(model.render() for model in self.models)
        return f"from django.db import models\n\n\n{body}\n"


def build_apps(app_count: int = 20, models_per_app: int = 10) -> list[AppSpec]:
    """The project's apps: every model has the usual business fields, some a FK and indexes."""
    apps = []
    for a, label in enumerate(APP_LABELS[:app_count]):
        if label in sys.stdlib_module_names:
            raise BenchmarkError(f"App label {label} would shadow a standard library module.")
        models = []
        for m, name in enumerate(MODEL_NAMES[:models_per_app]):
            fields = [
                FieldSpec("name", "CharField", {"max_length": "100"}),
                FieldSpec(
                    "code",
                    "CharField",
                    {"max_length": "32", **({"db_index": "True"} if m % 3 == 1 else {})},
                ),
                FieldSpec("quantity", "IntegerField", {"default": "0"}),
                FieldSpec("price", "DecimalField", {"max_digits": "10", "decimal_places": "2"}),
                FieldSpec("created_at", "DateTimeField", {"auto_now_add": "True"}),
                FieldSpec("updated_at", "DateTimeField", {"auto_now": "True"}),
            ]
            if m % 2 == 1:  # a ForeignKey to the previous model of the same app
                target = MODEL_NAMES[m - 1]
                fields.append(
                    FieldSpec(
                        target.lower(),
                        "ForeignKey",
                        {"to": repr(target), "on_delete": "models.CASCADE"},
                    )
                )
            indexes = []
            if m % 4 == 2:
                indexes.append(IndexSpec(["name", "-created_at"], f"ix_{a:02d}_{m}_name"))
            models.append(ModelSpec(name, fields, indexes))
        apps.append(AppSpec(label, models))
    return apps


def _add_field(spec: FieldSpec) -> Callable[[ModelSpec], None]:
    return lambda model: model.fields.append(spec)


def _set_option(field_name: str, key: str, value: str) -> Callable[[ModelSpec], None]:
    return lambda model: model.field(field_name).kwargs.__setitem__(key, value)


def _add_index(spec: IndexSpec) -> Callable[[ModelSpec], None]:
    return lambda model: model.indexes.append(spec)


#: "A change touching 10 models": (app index, model index, description, edit), 5 apps x 2 models.
CHANGES: list[tuple[int, int, str, Callable[[ModelSpec], None]]] = [
    (
        0,
        0,
        "add a nullable CharField",
        _add_field(
            FieldSpec(
                "nickname", "CharField", {"max_length": "80", "null": "True", "blank": "True"}
            )
        ),
    ),
    (
        0,
        3,
        "add an IntegerField with a default",
        _add_field(FieldSpec("priority", "IntegerField", {"default": "0"})),
    ),
    (4, 1, "alter max_length 100 -> 200", _set_option("name", "max_length", "200")),
    (4, 6, "add db_index=True", _set_option("code", "db_index", "True")),
    (
        8,
        2,
        "add a DecimalField with a default",
        _add_field(
            FieldSpec(
                "discount",
                "DecimalField",
                {"max_digits": "8", "decimal_places": "2", "default": "0"},
            )
        ),
    ),
    (8, 5, "add a Meta index", _add_index(IndexSpec(["quantity", "created_at"], "ix_08_5_qty"))),
    (
        12,
        4,
        "add a nullable, indexed DateTimeField",
        _add_field(FieldSpec("archived_at", "DateTimeField", {"null": "True", "db_index": "True"})),
    ),
    (12, 8, "make an IntegerField nullable", _set_option("quantity", "null", "True")),
    (
        16,
        7,
        "add a nullable ForeignKey",
        _add_field(
            FieldSpec(
                "parent",
                "ForeignKey",
                {
                    "to": "'Record'",
                    "null": "True",
                    "blank": "True",
                    "on_delete": "models.SET_NULL",
                },
            )
        ),
    ),
    (
        16,
        9,
        "add a BooleanField with a default",
        _add_field(FieldSpec("is_archived", "BooleanField", {"default": "False"})),
    ),
]


#: The next change, made after the first one landed (its migrations written): 2 models.
NEXT_CHANGES: list[tuple[int, int, str, Callable[[ModelSpec], None]]] = [
    (
        2,
        0,
        "add a nullable CharField",
        _add_field(FieldSpec("remark", "CharField", {"max_length": "40", "null": "True"})),
    ),
    (6, 1, "add db_index=True", _set_option("code", "db_index", "True")),
]


def apply_change(
    apps: list[AppSpec], changes: list[tuple[int, int, str, Callable[[ModelSpec], None]]] = CHANGES
) -> list[str]:
    """Edit 10 models of ``apps`` in place; returns one line per edited model."""
    lines = []
    for app_index, model_index, description, edit in changes:
        app = apps[app_index]
        model = app.models[model_index]
        edit(model)
        lines.append(f"{app.label}.{model.name}: {description}")
    return lines


# -- databases -----------------------------------------------------------------------------------


@dataclass
class Target:
    """The database the generated project uses: a backend and a URL."""

    backend: str  # "sqlite" or "postgresql"
    url: str

    @property
    def label(self) -> str:
        return self.backend


def parse_target(url: str) -> Target:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return Target("sqlite", url)
    if scheme in ("postgres", "postgresql"):
        if not urlsplit(url).path.strip("/"):
            raise BenchmarkError(f"{url}: the URL must name the database to create.")
        return Target("postgresql", url)
    raise BenchmarkError(f"{url}: only sqlite:// and postgres:// URLs are supported.")


def django_database(url: str, tmp: Path) -> dict[str, Any]:
    """The ``DATABASES['default']`` entry for ``url`` (``sqlite://`` alone: a file in ``tmp``)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative.db or sqlite:////absolute/path.db; sqlite:// alone -> tmp/db.sqlite3
        path = unquote(parts.path[1:]) if parts.path not in ("", "/") else ""
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(Path(path).resolve()) if path else str(tmp / "db.sqlite3"),
        }
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.strip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


class PostgresServer:
    """Administrative statements on the server of a ``postgres://`` URL (via psycopg)."""

    def __init__(self, url: str) -> None:
        try:
            from psycopg.conninfo import make_conninfo
        except ImportError:
            raise BenchmarkError("The PostgreSQL benchmark needs psycopg (3).") from None
        self.conninfo = make_conninfo(url, dbname="postgres")

    def execute(self, statement: Any, params: Any = None) -> list[tuple]:
        import psycopg

        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
                cursor = conn.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        except psycopg.Error as error:
            raise BenchmarkError(f"PostgreSQL: {str(error).strip()}") from None

    def databases(self, prefix: str) -> set[str]:
        escaped = prefix.replace("_", r"\_") + "%"
        rows = self.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [escaped])
        return {row[0] for row in rows}

    def create_database(self, name: str) -> None:
        from psycopg import sql

        if self.databases(name) & {name}:
            raise BenchmarkError(
                f"Database {name} already exists; the benchmark only uses (and "
                "drops) a database it creates. Choose another name."
            )
        self.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self.execute(statement.format(sql.Identifier(name)))


# -- running manage.py ---------------------------------------------------------------------------


@dataclass
class Run:
    command: str
    seconds: float
    pid: int
    stdout: str
    stderr: str


@dataclass
class Project:
    """A generated project in a temporary directory, and everything the benchmark tracks."""

    target: Target
    tmp: Path
    apps: list[AppSpec]
    timeout: float
    verbose: bool
    postgres: PostgresServer | None = None
    pids: list[int] = field(default_factory=list)  # of every manage.py process run
    cache_entries: set[str] = field(default_factory=set)  # caches our runs created

    @property
    def root(self) -> Path:
        return self.tmp / "project"

    @property
    def cache_dir(self) -> Path:
        return self.tmp / "cache"

    @property
    def bundle_root(self) -> Path:
        return self.tmp / "bundles"

    @property
    def scratch_tmp(self) -> Path:
        """``TMPDIR`` of the child processes: where SQLite scratch files are created."""
        return self.tmp / "tmp"

    @property
    def database(self) -> dict[str, Any]:
        return django_database(self.target.url, self.tmp)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(self.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env["DJANGO_SETTINGS_MODULE"] = f"{SETTINGS_PACKAGE}.settings"
        env["TMPDIR"] = str(self.scratch_tmp)
        # Bytecode caches as in any installation (pip byte-compiles packages; an editable
        # checkout or a project writes __pycache__ on first import): otherwise every run would
        # recompile migration_studio's modules, which makemigrations does not import.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def manage(self, *args: str) -> Run:
        """Run ``python manage.py <args>`` in a fresh process; raise if it fails."""
        command = " ".join(args)
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pids.append(process.pid)
        try:
            stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise BenchmarkError(f"manage.py {command} took more than {self.timeout}s.") from None
        except BaseException:
            _stop(process)
            raise
        seconds = time.perf_counter() - start
        if self.verbose:
            print(f"    $ manage.py {command}  ({seconds:.2f}s)")
            print(textwrap.indent((stdout + stderr).rstrip(), "      "))
        if process.returncode != 0:
            raise BenchmarkError(
                f"manage.py {command} exited with {process.returncode}:\n"
                f"{(stderr or stdout).strip()}"
            )
        return Run(command, seconds, process.pid, stdout, stderr)

    def manage_safe(self, *args: str) -> tuple[Run, set[str]]:
        """Run ``makesafemigration <args>``; also return the cached states it published."""
        before = self.cached_states()
        try:
            run = self.manage("makesafemigration", *args)
        finally:
            # Also after a failure or an interrupt: what appeared is ours, and must be dropped.
            new = self.cached_states() - before
            self.cache_entries |= new
        return run, new

    # -- the migration_studio cache and scratch databases ------------------------------------

    def cached_states(self) -> set[str]:
        """Cached states present now (SQLite: files in CACHE_DIR; PostgreSQL: databases)."""
        if self.postgres:
            return self.postgres.databases(CACHE_PREFIX)
        return {p.name for p in self.cache_dir.glob(f"{CACHE_PREFIX}*.sqlite3")}

    def clear_cache(self) -> None:
        """Remove the cached states this benchmark's runs created (others' are left alone)."""
        if self.postgres:
            for name in sorted(self.cache_entries):
                self.postgres.drop_database(name)
        else:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        self.cache_entries.clear()

    def leftover_scratch(self) -> list[str]:
        """Scratch databases (or SQLite files) created by our processes that still exist."""
        if self.postgres:
            ours = {str(pid) for pid in self.pids}
            return sorted(
                name
                for name in self.postgres.databases(SCRATCH_PREFIX)
                if name[len(SCRATCH_PREFIX) :].split("_")[0] in ours
            )
        return sorted(p.name for p in self.scratch_tmp.glob(f"{SCRATCH_PREFIX}*"))


def _stop(process: subprocess.Popen[str]) -> None:
    """End a child we started: SIGTERM first (migration_studio then drops its scratch database)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


# -- generating the project ----------------------------------------------------------------------

MANAGE_PY = """\
#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{package}.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

SETTINGS_PY = '''\
"""Settings of the project generated by benchmarks/makesafemigration_vs_makemigrations.py."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "benchmark-only-insecure-key"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = {installed_apps}

DATABASES = {{"default": {database}}}

MIGRATION_STUDIO = {{
    "BUNDLE_ROOT": {bundle_root!r},
    "CACHE_DIR": {cache_dir!r},
    # Large enough that our runs never evict cached states of other projects on the same server.
    "CACHE_SIZE": 100,
}}
'''


def write_models(project: Project) -> None:
    for app in project.apps:
        (project.root / app.label / "models.py").write_text(app.render_models())


def generate_project(project: Project) -> None:
    """Write manage.py, settings and every app (models.py, empty migrations package)."""
    for directory in (project.root / SETTINGS_PACKAGE, project.scratch_tmp):
        directory.mkdir(parents=True)
    (project.root / "manage.py").write_text(MANAGE_PY.format(package=SETTINGS_PACKAGE))
    (project.root / SETTINGS_PACKAGE / "__init__.py").write_text("")
    installed = [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "migration_studio",
        *(app.label for app in project.apps),
    ]
    (project.root / SETTINGS_PACKAGE / "settings.py").write_text(
        SETTINGS_PY.format(
            installed_apps=json.dumps(installed, indent=4).replace("\n]", ",\n]"),
            database=repr(project.database),
            bundle_root=str(project.bundle_root),
            cache_dir=str(project.cache_dir),
        )
    )
    for app in project.apps:
        (project.root / app.label / "migrations").mkdir(parents=True)
        (project.root / app.label / "__init__.py").write_text("")
        (project.root / app.label / "migrations" / "__init__.py").write_text("")
    write_models(project)


def commit_initial_migrations(project: Project) -> None:
    """``makemigrations`` -> each app's 0001_initial: the project's committed history.

    A run id is appended to every file, so migration_studio's cache key (which hashes the
    migration files) can never match a state cached by an earlier run of the benchmark.
    """
    project.manage("makemigrations", "--noinput", "-v", "0")
    run_id = uuid.uuid4().hex
    for app in project.apps:
        files = sorted((project.root / app.label / "migrations").glob("0*.py"))
        if [f.name for f in files] != ["0001_initial.py"]:
            raise BenchmarkError(f"Expected {app.label}/migrations/0001_initial.py, got {files}.")
        with files[0].open("a") as handle:
            handle.write(f"\n# benchmark run {run_id}\n")


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
        return statistics.median(self.plain)

    @property
    def warm_median(self) -> float:
        return statistics.median(self.warm)

    @property
    def warm_ratio(self) -> float:
        return self.warm_median / self.plain_median

    @property
    def cold_ratio(self) -> float:
        return self.cold / self.plain_median


DRY_RUN = ("--dry-run", "--noinput")


def expected_apps(apps: list[AppSpec]) -> list[str]:
    return sorted({apps[app_index].label for app_index, *_ in CHANGES})


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
    run, new = project.manage_safe(*DRY_RUN)
    check_detected(run, expected_apps(project.apps))
    if cold and not new:
        result.warnings.append("the cold run published no cached state: warm runs are cold too")
    if not cold and new:
        result.warnings.append(
            f"a warm run missed the cache and published {sorted(new)}; it is not counted as warm"
        )
    return run.seconds, bool(new) == cold


def check_written(project: Project) -> str:
    """After the real run: one new migration and one complete bundle per changed app."""
    lines = []
    statements = 0
    for label in expected_apps(project.apps):
        new = sorted((project.root / label / "migrations").glob("0002_*.py"))
        if len(new) != 1:
            raise BenchmarkError(f"Expected one {label}/migrations/0002_*.py, found {new}.")
        bundle = project.bundle_root / label / new[0].stem
        missing = [
            n
            for n in ("up.sql", "down.sql", "bundle.json", "README.md")
            if not (bundle / n).is_file()
        ]
        if missing:
            raise BenchmarkError(f"Bundle {bundle} lacks {missing}.")
        data = json.loads((bundle / "bundle.json").read_text())
        if data["vendor"] != project.target.backend:
            raise BenchmarkError(f"Bundle {bundle} was captured on {data['vendor']}.")
        forward = sum(
            len(op["forward_sql"]) + len(op["deferred_forward_sql"]) for op in data["operations"]
        )
        if not forward:
            raise BenchmarkError(f"Bundle {bundle} has no forward SQL.")
        statements += forward
        lines.append(f"{label}/{new[0].stem}")
    # The written migrations must describe the whole change.
    project.manage("makemigrations", "--check", "--dry-run", "--noinput", "-v", "0")
    return f"{len(lines)} migrations + bundles, {statements} forward statements"


def benchmark(project: Project, repeat: int) -> Result:
    """Generate the project, apply the change and time both commands (see the module docstring)."""
    generate_project(project)
    commit_initial_migrations(project)
    if _has_files(project.bundle_root):
        raise BenchmarkError("makemigrations wrote bundles")
    change = apply_change(project.apps)
    write_models(project)
    result = Result(project.target, change)

    # Untimed: compile the edited models.py and warm the OS caches, so the cold run only pays for
    # migration_studio's cold cache.
    check_detected(project.manage("makemigrations", *DRY_RUN), expected_apps(project.apps))

    project.clear_cache()
    result.cold, _ = timed_safe_run(project, result, cold=True)

    for round_ in range(repeat):
        # Alternate the order, so neither command always runs right after the other.
        for command in ("plain", "safe") if round_ % 2 == 0 else ("safe", "plain"):
            if command == "plain":
                run = project.manage("makemigrations", *DRY_RUN)
                check_detected(run, expected_apps(project.apps))
                result.plain.append(run.seconds)
            else:
                seconds, hit = timed_safe_run(project, result, cold=False)
                (result.warm if hit else result.missed).append(seconds)
    if not result.warm:
        raise BenchmarkError("Every warm makesafemigration run missed the cache.")

    written = sorted(project.root.glob("*/migrations/0002_*.py"))
    if written or _has_files(project.bundle_root):
        raise BenchmarkError(f"A --dry-run wrote files: {written or project.bundle_root}")

    run, _ = project.manage_safe("--noinput")
    result.write_seconds = run.seconds
    result.written = check_written(project)

    apply_change(project.apps, NEXT_CHANGES)
    write_models(project)
    project.manage("makemigrations", *DRY_RUN)  # untimed: compiles the edited models.py
    result.next_plain = project.manage("makemigrations", *DRY_RUN).seconds
    run, new = project.manage_safe(*DRY_RUN)
    if not new:
        result.warnings.append("the run after the first change landed published no state")
    result.next_safe = run.seconds
    return result


def _has_files(directory: Path) -> bool:
    return directory.exists() and any(directory.iterdir())


@contextlib.contextmanager
def prepared(target: Target, args: argparse.Namespace) -> Iterator[Project]:
    """A project for ``target`` in a new temporary directory; everything is removed on exit."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ms_bench_")))
        project = Project(target, tmp, build_apps(), timeout=args.timeout, verbose=args.verbose)
        if target.backend == "sqlite":
            path = Path(project.database["NAME"])
            if path.exists():
                raise BenchmarkError(
                    f"{path} exists; the benchmark only uses a database it "
                    "creates. Choose another path."
                )
            stack.callback(_remove_sqlite, path)
        else:
            project.postgres = PostgresServer(target.url)
            project.postgres.create_database(project.database["NAME"])
            stack.callback(project.postgres.drop_database, project.database["NAME"])
            stack.callback(_drop_ours, project)
        yield project


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _drop_ours(project: Project) -> None:
    """Drop the cached states and any scratch database our manage.py processes left."""
    assert project.postgres is not None
    for name in sorted(project.cache_entries) + project.leftover_scratch():
        if name.startswith((CACHE_PREFIX, SCRATCH_PREFIX)):
            project.postgres.drop_database(name)


def run_target(target: Target, args: argparse.Namespace) -> Result:
    with prepared(target, args) as project:
        print(f"\n== {target.label}: {_describe(project.database)} ==")
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


def _describe(database: dict[str, Any]) -> str:
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite file {database['NAME']}"
    host = f"{database['HOST'] or 'localhost'}:{database['PORT'] or 5432}"
    return f"postgresql database {database['NAME']} at {host}"


# -- output --------------------------------------------------------------------------------------


def print_details(result: Result, leftovers: list[str]) -> None:
    print("   change (10 models):")
    for line in result.change:
        print(f"     - {line}")
    rows = [
        ("makemigrations --dry-run", result.plain, ""),
        ("makesafemigration --dry-run, warm", result.warm, f"{result.warm_ratio:.2f}x"),
    ]
    for name, times, ratio in rows:
        print(
            f"   {name:<36} median {statistics.median(times):6.2f}s  "
            f"min {min(times):6.2f}s  ({len(times)} runs)  {ratio}"
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
        f"  {'':>21} {result.next_safe / result.next_plain:.2f}x"
        f"  (makemigrations {result.next_plain:.2f}s; closest cached state + new migrations)"
    )
    print(f"   all runs (s): makemigrations {_seconds(result.plain)}")
    print(f"                 makesafemigration warm {_seconds(result.warm)}")
    if result.missed:
        print(
            f"                 makesafemigration cache misses (not warm) {_seconds(result.missed)}"
        )
    print(f"   scratch databases left behind: {', '.join(leftovers) or 'none'}")
    for warning in dict.fromkeys(result.warnings):
        print(f"   WARNING: {warning}")


def _seconds(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in times)


def print_summary(results: list[Result], failures: dict[str, str]) -> None:
    print(f"\nSummary (median of warm runs; target: warm ratio <= {TARGET_WARM_RATIO}x)")
    for r in results:
        verdict = "OK" if r.warm_ratio <= TARGET_WARM_RATIO else "ABOVE TARGET"
        print(
            f"{r.target.label:<11} makemigrations {r.plain_median:5.2f}s  "
            f"makesafemigration warm {r.warm_median:5.2f}s ({r.warm_ratio:.2f}x)  "
            f"cold {r.cold:5.2f}s ({r.cold_ratio:.2f}x)  "
            f"next change {r.next_safe / r.next_plain:.2f}x  {verdict}"
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
    backend = args.backend or "both"
    name = f"migration_studio_bench_{uuid.uuid4().hex[:8]}"
    urls = {"sqlite": "sqlite://", "postgresql": f"{DEFAULT_POSTGRES_SERVER}/{name}"}
    chosen = ["sqlite", "postgresql"] if backend == "both" else [backend]
    return [parse_target(urls[b]) for b in chosen]


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


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so every cleanup (finally / ExitStack) runs on SIGTERM too


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        targets = targets_from(args)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"python {sys.executable}")
    results: list[Result] = []
    failures: dict[str, str] = {}
    for target in targets:
        try:
            results.append(run_target(target, args))
        except BenchmarkError as error:
            failures[target.label] = str(error)
            print(f"   FAILED: {error}", file=sys.stderr)
        except KeyboardInterrupt:
            print("\ninterrupted; everything the benchmark created was removed", file=sys.stderr)
            return 130
    print_summary(results, failures)
    if failures:
        return 1
    if args.check and any(r.warm_ratio > TARGET_WARM_RATIO for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
