"""What the benchmarks share: lifecycle, databases, ``manage.py`` runs, statistics and output.

``makesafemigration_vs_makemigrations.py``, ``validatemigration_vs_migrate.py`` and
``estimate_accuracy.py`` import this module (they sit in the same folder); none imports another
benchmark. It holds:

* exit statuses, ``BenchmarkError``, SIGTERM handled like Ctrl-C (:func:`run_main`), and the
  cleanup of everything a benchmark creates, also on errors, Ctrl-C and SIGTERM (:class:`Cleanup`,
  :func:`temporary_directory`, :func:`prepared`);
* database URLs (:func:`parse_target`, :func:`django_database`) and PostgreSQL's ``CREATE`` /
  ``DROP DATABASE`` (:class:`PostgresServer`), with the names the benchmarks give their own
  databases (:func:`database_name`, ``$MS_BENCH_DATABASE_PREFIX``);
* the generated 200-model project (20 apps x 10 models), the change touching 10 models, and
  :class:`Project`: its ``python manage.py`` subprocesses, timed, and migration_studio's cached
  states and scratch databases its runs create (and the check that none is left behind);
* medians, ratios, the ``--check`` exit status and an aligned text table.

migration_studio's own names come from the package: ``SCRATCH_PREFIX`` and ``CACHE_PREFIX`` from
``migration_studio.scratch.database``, and a project's cache prefix (the name prefix of its cached
states) from ``ScratchDatabase.cache_prefix``, evaluated in a process of the generated project.
So the benchmarks run with the Python that has migration_studio installed (the ``.venv`` that
``scripts/test`` creates has this checkout, editable).
"""

from __future__ import annotations

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
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

try:
    from migration_studio.scratch import database as scratch_database
except ImportError as error:  # pragma: no cover - how the benchmarks are started
    raise SystemExit(
        f"The benchmarks need Django and migration_studio installed ({error}). Run them with the "
        "project's virtualenv (scripts/test creates it): .venv/bin/python benchmarks/<script>.py"
    ) from None

#: Names migration_studio gives the databases (SQLite: files) it creates: scratch databases
#: (``<SCRATCH_PREFIX><pid>_<random>``) and cached states (``<CACHE_PREFIX><project>_<key>``).
SCRATCH_PREFIX: str = scratch_database.SCRATCH_PREFIX
CACHE_PREFIX: str = scratch_database.CACHE_PREFIX

EXIT_OK = 0
EXIT_FAILED = 1  # a backend failed, a database error, or (with --check) a figure above target
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEFAULT_POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
#: Prepended to the name of every database the benchmarks create (not migration_studio's own).
DATABASE_PREFIX_VARIABLE = "MS_BENCH_DATABASE_PREFIX"


class BenchmarkError(Exception):
    """The benchmark could not run or a check failed; the message is for the user."""


# -- lifecycle: signals, cleanup, temporary directories ------------------------------------------


class Terminated(KeyboardInterrupt):
    """SIGTERM was received: handled like Ctrl-C (psycopg cancels a running query on it too)."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def run_main(
    body: Callable[[], int],
    *,
    interrupted: str = "interrupted; everything the benchmark created was removed",
) -> int:
    """Run a benchmark's ``main`` body: SIGTERM raises like Ctrl-C, so every cleanup
    (``finally``, :class:`Cleanup`) runs; an interruption prints ``interrupted`` and gives 130."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return body()
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back for the duration (delivered afterwards): a second Ctrl-C
    must not cut a cleanup short and leave a database behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Cleanup(contextlib.ExitStack):
    """An ``ExitStack`` whose callbacks (last registered first) run with signals deferred."""

    def __exit__(self, *exc_info: Any) -> bool:
        with signals_deferred():
            return super().__exit__(*exc_info)


@contextlib.contextmanager
def temporary_directory(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A new directory under ``$TMPDIR``, removed with everything in it on the way out."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    with Cleanup() as cleanup:
        if not keep:
            cleanup.callback(shutil.rmtree, path, ignore_errors=True)
        yield path


def has_files(directory: Path) -> bool:
    return directory.exists() and any(directory.iterdir())


# -- statistics and output -----------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(values)


def ratio(numerator: Iterable[float] | float, denominator: Iterable[float] | float) -> float:
    """``numerator / denominator``, each a number or a series (then its median)."""
    top = numerator if isinstance(numerator, int | float) else median(numerator)
    bottom = denominator if isinstance(denominator, int | float) else median(denominator)
    return top / bottom if bottom > 0 else float("inf")


def within(value: float, target: float) -> bool:
    """``value`` is within ``target`` times of 1 (a ratio between 1/target and target)."""
    return 1 / target <= value <= target


def exit_status(*, failed: bool, above_target: bool, check: bool) -> int:
    """1 when something failed, or with ``--check`` when a figure missed its target; else 0."""
    return EXIT_FAILED if failed or (check and above_target) else EXIT_OK


def add_backend_and_run_options(parser: Any, *, check_help: str) -> None:
    """``--backend``, ``--repeat``, ``--timeout``, ``--check`` and ``-v``, as the benchmarks on
    the generated project read them."""
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="which database(s) to benchmark (default: both); PostgreSQL is "
        f"{DEFAULT_POSTGRES_SERVER}, user postgres, trust authentication",
    )
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default: 5; medians)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="seconds after which a manage.py run is stopped (default: 600)",
    )
    parser.add_argument("--check", action="store_true", help=check_help)
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print every manage.py command with its output"
    )


def run_on_targets(
    args: Any,
    stem: str,
    run_target: Callable[[Target, Any], Any],
    print_summary: Callable[[list[Any], dict[str, str]], None],
    above_target: Callable[[Any], bool],
) -> int:
    """Run ``run_target`` on each database of ``args.backend`` (a failure is reported and the
    next one runs), print the summary, and return the exit status (``--check``: a result
    ``above_target`` fails the run)."""
    print(f"python {sys.executable}")
    results: list[Any] = []
    failures: dict[str, str] = {}
    for target in default_targets(args.backend, stem):
        try:
            results.append(run_target(target, args))
        except BenchmarkError as error:
            failures[target.label] = str(error)
            print(f"   FAILED: {error}", file=sys.stderr)
    print_summary(results, failures)
    return exit_status(
        failed=bool(failures),
        above_target=any(above_target(result) for result in results),
        check=args.check,
    )


def percentile(values: list[float], percent: float) -> float:
    """The value below which ``percent`` % of ``values`` fall (nearest rank; 0 when empty)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.{2 if seconds < 0.01 else 1}f} ms"


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``1_000_000`` and ``1,000,000`` too)."""
    import argparse

    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


class Writes:
    """A writer process (``ready`` on its first line once connected; on stdin's end, the JSON list
    of ``[sent, wait]`` of its writes on its last line), stopped by :meth:`stop`."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            try:
                _, stderr = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                stderr = "it did not answer"
            lines = (stderr or "").strip().splitlines() or ["(no output)"]
            raise BenchmarkError(f"the writer did not start: {lines[-1]}")

    def stop(self, start: float, end: float) -> list[float]:
        """Stop writing; the waits of the writes sent between ``start`` and ``end``."""
        stdout, stderr = self.process.communicate(input="", timeout=60)
        if self.process.returncode:
            raise BenchmarkError(f"the writer failed: {stderr.strip()}")
        samples = json.loads(stdout.strip().splitlines()[-1])
        return [wait for sent, wait in samples if start <= sent <= end]


def add_load_options(
    parser: Any, *, rows: int, repeat: int, repeat_help: str, check_help: str
) -> None:
    """``--rows``, ``--repeat``, ``--server``, ``--check`` and the hidden ``--writer``, as the
    benchmarks that write to a large PostgreSQL table under load read them."""
    import argparse

    parser.add_argument(
        "--rows", type=positive, default=rows, help=f"rows in the table (default: {rows:,})"
    )
    parser.add_argument(
        "--repeat", type=positive, default=repeat, help=f"{repeat_help} (default: {repeat})"
    )
    parser.add_argument(
        "--server",
        default=DEFAULT_POSTGRES_SERVER,
        help="the PostgreSQL server, a postgres:// URL without a database (default: "
        f"{DEFAULT_POSTGRES_SERVER})",
    )
    parser.add_argument("--check", action="store_true", help=check_help)
    parser.add_argument("--writer", help=argparse.SUPPRESS)


def seconds_list(times: Iterable[float], digits: int = 2) -> str:
    return " ".join(f"{t:.{digits}f}" for t in times)


@dataclass
class Column:
    header: str
    align: str = "<"  # "<" or ">"
    width: int = 0  # the least width; the header and the cells widen it


def format_table(
    columns: Sequence[Column], rows: Iterable[Sequence[str]], indent: str = "   "
) -> list[str]:
    """Aligned lines: the header, then one per row (columns two spaces apart)."""
    rows = [list(row) for row in rows]
    widths = [
        max([column.width, len(column.header), *(len(row[i]) for row in rows)])
        for i, column in enumerate(columns)
    ]

    def line(cells: Sequence[str]) -> str:
        text = "  ".join(
            f"{cell:{column.align}{width}}"
            for cell, column, width in zip(cells, columns, widths, strict=True)
        )
        return f"{indent}{text}".rstrip()

    return [line([column.header for column in columns]), *(line(row) for row in rows)]


# -- databases -----------------------------------------------------------------------------------


def database_name(stem: str, random_hex: int = 8) -> str:
    """A new database name: ``$MS_BENCH_DATABASE_PREFIX``, ``stem`` and random hex digits."""
    return f"{os.environ.get(DATABASE_PREFIX_VARIABLE, '')}{stem}{uuid.uuid4().hex[:random_hex]}"


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


def default_targets(backend: str, stem: str) -> list[Target]:
    """``sqlite``, ``postgresql`` or ``both``: SQLite in the temporary directory, PostgreSQL as a
    new database named after ``stem`` on :data:`DEFAULT_POSTGRES_SERVER`."""
    urls = {"sqlite": "sqlite://", "postgresql": f"{DEFAULT_POSTGRES_SERVER}/{database_name(stem)}"}
    chosen = ["sqlite", "postgresql"] if backend == "both" else [backend]
    return [parse_target(urls[b]) for b in chosen]


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


def describe_database(database: dict[str, Any]) -> str:
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite file {database['NAME']}"
    host = f"{database['HOST'] or 'localhost'}:{database['PORT'] or 5432}"
    return f"postgresql database {database['NAME']} at {host}"


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class PostgresServer:
    """Administrative statements on a PostgreSQL server (via psycopg 3).

    ``conninfo`` is a ``postgres://`` URL or a libpq connection string; the statements run in the
    database ``dbname`` (``None``: the one ``conninfo`` names).
    """

    def __init__(self, conninfo: str, *, dbname: str | None = "postgres") -> None:
        try:
            from psycopg.conninfo import make_conninfo
        except ImportError:
            raise BenchmarkError("The PostgreSQL benchmark needs psycopg (3).") from None
        self.conninfo = make_conninfo(conninfo, **({"dbname": dbname} if dbname else {}))

    def conninfo_for(self, name: str) -> str:
        """The connection string of database ``name`` on this server."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.conninfo, dbname=name)

    def execute(self, statement: Any, params: Any = None) -> list[tuple]:
        import psycopg

        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
                cursor = conn.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        except psycopg.errors.DuplicateDatabase:
            raise
        except psycopg.Error as error:
            raise BenchmarkError(f"PostgreSQL: {str(error).strip()}") from None

    def databases(self, prefix: str) -> set[str]:
        """Names of the databases that start with ``prefix``."""
        escaped = prefix.replace("_", r"\_") + "%"
        rows = self.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [escaped])
        return {row[0] for row in rows}

    def create_database(self, name: str) -> None:
        """``CREATE DATABASE``; an existing database is an error (it is not ours to drop)."""
        import psycopg
        from psycopg import sql

        try:
            self.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            raise BenchmarkError(
                f"Database {name} already exists; the benchmark only uses (and "
                "drops) a database it creates. Choose another name."
            ) from None

    def copy_database(self, template: str, name: str) -> None:
        """``name`` dropped and created again from ``template``, then a checkpoint, so every
        run starts from the same table state and clean shared buffers."""
        from psycopg import sql

        self.drop_database(name)
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {}")
        self.execute(create.format(sql.Identifier(name), sql.Identifier(template)))
        self.execute("CHECKPOINT")

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self.execute(statement.format(sql.Identifier(name)))


# -- the generated project -----------------------------------------------------------------------

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


#: One model edit: (app index, model index, description, edit).
Change = tuple[int, int, str, Callable[[ModelSpec], None]]


def add_field(spec: FieldSpec) -> Callable[[ModelSpec], None]:
    return lambda model: model.fields.append(spec)


def set_option(field_name: str, key: str, value: str) -> Callable[[ModelSpec], None]:
    return lambda model: model.field(field_name).kwargs.__setitem__(key, value)


def add_index(spec: IndexSpec) -> Callable[[ModelSpec], None]:
    return lambda model: model.indexes.append(spec)


#: "A change touching 10 models": 5 apps x 2 models.
CHANGES: list[Change] = [
    (
        0,
        0,
        "add a nullable CharField",
        add_field(
            FieldSpec(
                "nickname", "CharField", {"max_length": "80", "null": "True", "blank": "True"}
            )
        ),
    ),
    (
        0,
        3,
        "add an IntegerField with a default",
        add_field(FieldSpec("priority", "IntegerField", {"default": "0"})),
    ),
    (4, 1, "alter max_length 100 -> 200", set_option("name", "max_length", "200")),
    (4, 6, "add db_index=True", set_option("code", "db_index", "True")),
    (
        8,
        2,
        "add a DecimalField with a default",
        add_field(
            FieldSpec(
                "discount",
                "DecimalField",
                {"max_digits": "8", "decimal_places": "2", "default": "0"},
            )
        ),
    ),
    (8, 5, "add a Meta index", add_index(IndexSpec(["quantity", "created_at"], "ix_08_5_qty"))),
    (
        12,
        4,
        "add a nullable, indexed DateTimeField",
        add_field(FieldSpec("archived_at", "DateTimeField", {"null": "True", "db_index": "True"})),
    ),
    (12, 8, "make an IntegerField nullable", set_option("quantity", "null", "True")),
    (
        16,
        7,
        "add a nullable ForeignKey",
        add_field(
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
        add_field(FieldSpec("is_archived", "BooleanField", {"default": "False"})),
    ),
]


def apply_change(apps: list[AppSpec], changes: list[Change] = CHANGES) -> list[str]:
    """Edit the models of ``changes`` in place; returns one line per edited model."""
    lines = []
    for app_index, model_index, description, edit in changes:
        app = apps[app_index]
        model = app.models[model_index]
        edit(model)
        lines.append(f"{app.label}.{model.name}: {description}")
    return lines


def changed_apps(apps: list[AppSpec], changes: list[Change] = CHANGES) -> list[str]:
    """The labels of the apps ``changes`` edits, sorted."""
    return sorted({apps[app_index].label for app_index, *_ in changes})


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
"""Settings of the project generated by benchmarks/harness.py."""

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

#: Run in a process of the generated project: migration_studio's name prefix of its cached states.
CACHE_PREFIX_CODE = (
    "from migration_studio.scratch.database import ScratchDatabase; "
    "print(ScratchDatabase('default', use_cache=False).cache_prefix)"
)


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
    cache_entries: set[str] = field(default_factory=set)  # cached states our runs published
    #: migration_studio's name prefix of this project's cached states, once asked for.
    known_cache_prefix: str | None = None

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

    # -- running manage.py ---------------------------------------------------------------------

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
        """Run ``python manage.py <args>`` in a fresh process, timed; raise if it fails."""
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
            stop_process(process)
            raise BenchmarkError(f"manage.py {command} took more than {self.timeout}s.") from None
        except BaseException:
            stop_process(process)
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

    def tracked(self, *args: str) -> tuple[Run, set[str]]:
        """``manage.py <args>``, and the cached states it published (dropped at the end)."""
        before = self.cached_states()
        try:
            run = self.manage(*args)
        finally:
            # Also after a failure or an interrupt: what appeared is ours, and must be dropped.
            new = self.cached_states() - before
            self.cache_entries |= new
        return run, new

    # -- migration_studio's cached states and scratch databases -------------------------------

    @property
    def cache_prefix(self) -> str:
        """How this project's cached states are named (see :meth:`ask_cache_prefix`)."""
        if self.known_cache_prefix is None:
            self.ask_cache_prefix()
        assert self.known_cache_prefix is not None
        return self.known_cache_prefix

    def ask_cache_prefix(self) -> None:
        """Ask migration_studio, in a process of the project, how it names the project's cached
        states (``ScratchDatabase.cache_prefix``: from the settings module and the database)."""
        run = self.manage("shell", "--no-imports", "-c", CACHE_PREFIX_CODE)
        prefix = (run.stdout.strip().splitlines() or [""])[-1]
        if not prefix.startswith(CACHE_PREFIX):
            raise BenchmarkError(f"Unexpected cache prefix from migration_studio: {prefix!r}")
        self.known_cache_prefix = prefix

    def cached_states(self) -> set[str]:
        """This project's cached states (SQLite: files in CACHE_DIR; PostgreSQL: databases)."""
        if self.postgres:
            return self.postgres.databases(self.cache_prefix)
        return {
            p.name.removesuffix(".sqlite3")
            for p in self.cache_dir.glob(f"{self.cache_prefix}*.sqlite3")
        }

    def clear_cache(self) -> None:
        """Remove this project's cached states (others' are left alone) and their manifests."""
        self.drop_own_caches()
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        self.cache_entries.clear()

    def drop_own_caches(self) -> None:
        """PostgreSQL: drop every cached state of this project, also those no run was seen
        publishing (SQLite's are files in the temporary directory)."""
        if self.postgres is None:
            return
        names = set(self.cache_entries)
        if self.known_cache_prefix is not None:
            names |= self.postgres.databases(self.known_cache_prefix)
        for name in sorted(names):
            if name.startswith(CACHE_PREFIX):
                self.postgres.drop_database(name)

    def leftover_scratch(self) -> list[str]:
        """Scratch databases (or SQLite files) created by our processes that still exist."""
        if self.postgres:
            ours = set(self.pids)
            return sorted(
                name
                for name in self.postgres.databases(SCRATCH_PREFIX)
                if scratch_owner(name) in ours
            )
        return sorted(p.name for p in self.scratch_tmp.glob(f"{SCRATCH_PREFIX}*"))

    def drop_leftover_scratch(self) -> None:
        if self.postgres:
            for name in self.leftover_scratch():
                self.postgres.drop_database(name)


def scratch_owner(name: str) -> int | None:
    """The pid in a scratch database's name (``<SCRATCH_PREFIX><pid>_<random>``), if any."""
    if not name.startswith(SCRATCH_PREFIX):
        return None
    pid = name[len(SCRATCH_PREFIX) :].split("_")[0]
    return int(pid) if pid.isdigit() else None


def stop_process(process: subprocess.Popen[str]) -> None:
    """End a child we started: SIGTERM first (migration_studio then drops its scratch database)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


@contextlib.contextmanager
def prepared(
    target: Target, *, timeout: float, verbose: bool, prefix: str = "ms_bench_"
) -> Iterator[Project]:
    """A project for ``target`` in a new temporary directory, its database created (PostgreSQL)
    or checked to be new (SQLite). On the way out, also on errors, Ctrl-C and SIGTERM: the
    project's cached states, scratch databases of its processes, its database and the temporary
    directory are removed."""
    with temporary_directory(prefix) as tmp, Cleanup() as cleanup:
        project = Project(target, tmp, build_apps(), timeout=timeout, verbose=verbose)
        if target.backend == "sqlite":
            path = Path(project.database["NAME"])
            if path.exists():
                raise BenchmarkError(
                    f"{path} exists; the benchmark only uses a database it "
                    "creates. Choose another path."
                )
            cleanup.callback(remove_sqlite, path)
        else:
            project.postgres = PostgresServer(target.url)
            project.postgres.create_database(project.database["NAME"])
            cleanup.callback(project.postgres.drop_database, project.database["NAME"])
            cleanup.callback(project.drop_leftover_scratch)
            cleanup.callback(project.drop_own_caches)
        yield project


def write_models(project: Project) -> None:
    for app in project.apps:
        (project.root / app.label / "models.py").write_text(app.render_models())


def generate_project(project: Project) -> None:
    """Write manage.py, settings and every app (models.py, empty migrations package); learn the
    project's cache prefix from migration_studio."""
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
    project.ask_cache_prefix()  # now, before any run can publish a cached state


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


def forward_statements(bundle: dict[str, Any]) -> int:
    """The forward statements of a ``bundle.json`` (deferred ones included)."""
    return sum(
        len(op["forward_sql"]) + len(op["deferred_forward_sql"]) for op in bundle["operations"]
    )


def check_written(project: Project) -> str:
    """After a real ``makesafemigration``: one new migration and one complete bundle per changed
    app, and nothing left for ``makemigrations``; returns what was written."""
    lines = []
    statements = 0
    for label in changed_apps(project.apps):
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
        forward = forward_statements(data)
        if not forward:
            raise BenchmarkError(f"Bundle {bundle} has no forward SQL.")
        statements += forward
        lines.append(f"{label}/{new[0].stem}")
    # The written migrations must describe the whole change.
    project.manage("makemigrations", "--check", "--dry-run", "--noinput", "-v", "0")
    return f"{len(lines)} migrations + bundles, {statements} forward statements"
