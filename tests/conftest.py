"""Fixtures and domain helpers: temporary migration packages, scratch-built databases, round trips.

Nothing here touches a database the suite did not create: the databases compared in round trips are
scratch databases, and the ``default`` alias is only read.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations import Migration
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations.base import Operation
from django.db.migrations.writer import MigrationWriter

from migration_studio.bundle.model import Bundle
from migration_studio.bundle.store import load_bundle
from migration_studio.scratch.database import (
    SCRATCH_PREFIX,
    ScratchDatabase,
    leftover_scratch_databases,
)
from migration_studio.validation.schema import diff, quick_snapshot, snapshot

REPO = Path(__file__).resolve().parent.parent
SHOP_MIGRATIONS = REPO / "example_project" / "shop" / "migrations"


@pytest.fixture(scope="session", autouse=True)
def _database_access(django_db_blocker: pytest.FixtureRequest) -> Iterator[None]:
    """The suite manages its own databases; make sure ``default``, ``sample_source`` and ``live``
    exist."""
    with django_db_blocker.unblock():
        for alias in ("default", "sample_source", "live"):
            connection = connections[alias]
            if connection.vendor != "postgresql":
                continue
            with connection._nodb_cursor() as cursor:
                name = connection.settings_dict["NAME"]
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
                if not cursor.fetchone():
                    cursor.execute(f'CREATE DATABASE "{name}"')
        yield


@pytest.fixture
def vendor() -> str:
    return connections["default"].vendor


@pytest.fixture
def bundle_root(tmp_path: Path, settings: pytest.FixtureRequest) -> Path:
    root = tmp_path / "bundles"
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "BUNDLE_ROOT": root}
    return root


class MigrationPackages:
    """Writes migrations for an app into a temporary package and points MIGRATION_MODULES at it."""

    def __init__(self, tmp_path: Path, settings: pytest.FixtureRequest) -> None:
        self.tmp_path = tmp_path
        self.settings = settings
        self.modules: dict[str, str] = {}
        self.directories: dict[str, Path] = {}

    def create(
        self, app_label: str, files: dict[str, str] | None = None, copy_from: Path | None = None
    ) -> Path:
        package = f"ms_tmp_{uuid.uuid4().hex[:10]}"
        directory = self.tmp_path / package / "migrations"
        if copy_from:
            shutil.copytree(copy_from, directory, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            directory.mkdir(parents=True)
        (self.tmp_path / package / "__init__.py").touch()
        (directory / "__init__.py").touch()
        for name, source in (files or {}).items():
            (directory / f"{name}.py").write_text(source)
        self.modules[app_label] = f"{package}.migrations"
        self.directories[app_label] = directory
        self.settings.MIGRATION_MODULES = dict(self.modules)
        importlib.invalidate_caches()
        return directory

    def add(self, app_label: str, name: str, source: str) -> None:
        (self.directories[app_label] / f"{name}.py").write_text(source)
        importlib.invalidate_caches()

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should see the same packages."""
        import json

        return {
            "MS_TEST_MIGRATION_MODULES": json.dumps(self.modules),
            "PYTHONPATH": os.pathsep.join([str(self.tmp_path), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        }


@pytest.fixture
def packages(
    tmp_path: Path, settings: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> MigrationPackages:
    monkeypatch.syspath_prepend(str(tmp_path))
    return MigrationPackages(tmp_path, settings)


@pytest.fixture
def shop(packages: MigrationPackages) -> Path:
    """A private copy of the example shop's migration history (its models have a pending change)."""
    return packages.create("shop", copy_from=SHOP_MIGRATIONS)


def migration_source(app_label: str, name: str, operations: list, dependencies: list) -> str:
    migration_class = type(
        "Migration",
        (Migration,),
        {
            "operations": operations,
            "dependencies": dependencies,
        },
    )
    return MigrationWriter(migration_class(name, app_label)).as_string()


def make(*args: str, **options: object) -> str:
    """``makesafemigration`` run in this process, with ``options`` as ``call_command`` takes
    them; what it printed."""
    out = StringIO()
    call_command(
        "makesafemigration", *args, stdout=out, stderr=StringIO(), no_color=True, **options
    )
    return out.getvalue()


def written_after(directory: Path, number: str) -> list[str]:
    """The names of the migrations in ``directory`` numbered after ``number`` ("0005"), in order:
    what a command wrote after the history."""
    return sorted(
        path.stem for path in directory.glob("[0-9][0-9][0-9][0-9]_*.py") if path.stem[:4] > number
    )


def after_shop_0004(*operations: Operation) -> str:
    """The source of a migration after the example shop's 0004 that runs ``operations``: a
    history that differs from the models, so the autodetector has something to write."""
    return migration_source(
        "shop", "history", list(operations), [("shop", "0004_orderitem_constraints")]
    )


# -- databases built for comparison ----------------------------------------------------------------


def migrate(database: ScratchDatabase, app_label: str, name: str) -> None:
    """Bring ``database`` to ``app_label.name`` with Django's own executor, as ``migrate`` does."""
    with database.activated() as connection:
        executor = MigrationExecutor(connection)
        executor.migrate([(app_label, name)])
    database.connection.close()


def run_sql_file(database: ScratchDatabase, path: Path) -> None:
    """Run a SQL file with the vendor's command-line client, as a user would."""
    error = sql_file_error(database, path)
    assert error is None, f"{path.name} failed:\n{error}"


def sql_file_error(database: ScratchDatabase, path: Path) -> str | None:
    """Run a SQL file as :func:`run_sql_file` does; the client's error output if it failed."""
    database.connection.close()
    settings_dict = database.connection.settings_dict
    if database.connection.vendor == "sqlite":
        command = ["sqlite3", "-bail", settings_dict["NAME"]]
        env = None
    else:
        command = [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            settings_dict["HOST"] or "127.0.0.1",
            "-p",
            str(settings_dict["PORT"] or 5432),
            "-U",
            settings_dict["USER"] or "postgres",
            "-d",
            settings_dict["NAME"],
        ]
        env = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    result = subprocess.run(
        command, input=path.read_text(), capture_output=True, text=True, env=env, check=False
    )
    if result.returncode == 0 and "ERROR" not in result.stderr:
        return None
    return result.stderr or f"exit status {result.returncode}"


def schema_of(database: ScratchDatabase) -> dict:
    """Both snapshots: Django's introspection, and the quick one validation uses."""
    with database.activated() as connection:
        return {"introspection": snapshot(connection), "quick": quick_snapshot(connection)}


def assert_same_schema(actual: dict, expected: dict, what: str) -> None:
    differences = [
        f"({kind}) {line}" for kind in actual for line in diff(expected[kind], actual[kind])
    ]
    assert not differences, f"{what}:\n" + "\n".join(differences)


def assert_round_trip(
    bundle_path: Path, parent: tuple[str, str], target: tuple[str, str], alias: str = "default"
) -> Bundle:
    """up.sql on the parent state gives ``migrate``'s schema; down.sql gives the parent back."""
    bundle = load_bundle(bundle_path)
    with (
        ScratchDatabase(alias, use_cache=False) as by_sql,
        ScratchDatabase(alias, use_cache=False) as by_migrate,
    ):
        by_sql.create()
        by_migrate.create()
        migrate(by_sql, *parent)
        parent_schema = schema_of(by_sql)
        run_sql_file(by_sql, bundle_path / "up.sql")
        migrate(by_migrate, *target)
        assert_same_schema(schema_of(by_sql), schema_of(by_migrate), "up.sql differs from migrate")
        run_sql_file(by_sql, bundle_path / "down.sql")
        assert_same_schema(
            schema_of(by_sql), parent_schema, "down.sql did not restore the parent schema"
        )
    return bundle


def no_scratch_left(alias: str = "default", pid: int | None = None) -> bool:
    """True when no scratch database made by process ``pid`` (this one by default) is left."""
    mark = f"{SCRATCH_PREFIX}{pid or os.getpid()}_"
    return not [name for name in leftover_scratch_databases(alias) if mark in name]


def python() -> str:
    return sys.executable


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_interrupted(process: subprocess.Popen, message: str) -> None:
    """The command said what it cleaned up, in one sentence, and exited like Ctrl-C (130)."""
    stderr = process.stderr_text  # type: ignore[attr-defined]
    assert process.returncode == 130, (process.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == message, stderr


def slow_migration(parent: tuple[str, str]) -> str:
    """A migration whose data step writes ``$MS_TEST_MARKER`` and then waits a minute: a run
    holding a scratch database, ready to be interrupted (see :func:`interrupted`)."""
    return f"""
import os, time
from django.db import migrations


def wait(apps, schema_editor):
    open(os.environ["MS_TEST_MARKER"], "w").close()
    time.sleep(60)


class Migration(migrations.Migration):
    dependencies = [{parent!r}]
    operations = [migrations.RunPython(wait, migrations.RunPython.noop)]
"""


def interrupted(
    args: list[str], env: dict[str, str], marker: Path, signum: int = signal.SIGINT
) -> subprocess.Popen:
    """Run ``python -m django <args>``; once it has written ``marker`` (it is inside a migration
    holding a scratch database), check that the database exists and send ``signum``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background inherits an ignored SIGINT; the command must not.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the migration never started"
            time.sleep(0.05)
        assert not no_scratch_left(pid=process.pid), "the scratch database should exist now"
        process.send_signal(signum)
        process.stdout_text, process.stderr_text = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process
