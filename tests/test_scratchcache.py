"""``scratchcache``: lists and drops cached states and leftovers, and nothing else."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from migration_studio.exceptions import ScratchError
from migration_studio.scratch.cache import (
    Leftover,
    cached_states,
    drop_leftover,
    drop_state,
    leftovers,
    project_prefix,
)
from migration_studio.scratch.database import CACHE_PREFIX, SCRATCH_PREFIX, ScratchDatabase


def run(*args: str, **options) -> str:
    out = io.StringIO()
    call_command("scratchcache", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def cache_dir(tmp_path: Path, settings) -> Path:
    directory = tmp_path / "cache"
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "CACHE_DIR": directory}
    return directory


class Server:
    """Creates databases (or SQLite files) on the test server, and drops them afterwards."""

    def __init__(self, cache_dir: Path) -> None:
        self.scratch = ScratchDatabase("default", use_cache=False)
        self.vendor = self.scratch.source.vendor
        self.cache_dir = cache_dir
        self.made: list[str] = []

    def create(self, name: str, where: Path | None = None) -> str:
        """A database ``name`` (SQLite: ``<where or CACHE_DIR>/<name>.sqlite3``)."""
        if self.vendor == "sqlite":
            directory = where or self.cache_dir
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{name}.sqlite3"
            path.write_bytes(b"")
            self.made.append(str(path))
            return str(path)
        self.scratch.vendor._execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return name

    def exists(self, name: str) -> bool:
        if self.vendor == "sqlite":
            return Path(name).exists()
        rows = self.scratch.vendor._execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return bool(rows)

    def cleanup(self) -> None:
        for name in self.made:
            if self.vendor == "sqlite":
                Path(name).unlink(missing_ok=True)
            else:
                self.scratch.vendor._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.scratch.vendor.close()


@pytest.fixture
def server(cache_dir: Path):
    server = Server(cache_dir)
    yield server
    server.cleanup()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_lists_and_clears_this_projects_cached_states(shop, bundle_root, cache_dir, server):
    run("--clear")  # earlier runs of this project, on a server's cache
    assert not [s for s in cached_states("default") if s.this_project]
    call_command("makesafemigration", "shop", dry_run=True, verbosity=0)  # stores a real state
    mine = project_prefix("default")
    states = [s for s in cached_states("default") if s.this_project]
    assert len(states) == 1 and states[0].name.startswith(mine)
    assert (cache_dir / f"{states[0].name}.json").exists()
    other = server.create(f"{CACHE_PREFIX}00000000_{uuid.uuid4().hex[:24]}")
    unrelated = server.create(f"ms_unrelated_{uuid.uuid4().hex[:8]}")

    listing = run()
    assert states[0].name in listing and "this project" in listing
    assert Path(other).name.removesuffix(".sqlite3") in listing
    assert "project 00000000" in listing
    assert "ms_unrelated_" not in listing

    assert run("--clear") == "Dropped 1 cached state(s) of this project " + (
        f"({_size_of(states[0].size_bytes)}).\n"
    )
    assert not [s for s in cached_states("default") if s.this_project]
    assert not (cache_dir / f"{states[0].name}.json").exists()
    assert server.exists(other), "another project's state must stay"
    assert server.exists(unrelated)

    # A later run rebuilds what was dropped.
    call_command("makesafemigration", "shop", dry_run=True, verbosity=0)
    assert [s for s in cached_states("default") if s.this_project]


def _size_of(size):
    from migration_studio.management.commands.scratchcache import _size

    return _size(size)


def test_all_projects_drops_only_cached_states(cache_dir, server, vendor):
    if vendor != "sqlite":
        pytest.skip("on a shared PostgreSQL server, other projects' states belong to others")
    other = server.create(f"{CACHE_PREFIX}00000000_{uuid.uuid4().hex[:24]}")
    mine = server.create(f"{project_prefix('default')}{uuid.uuid4().hex[:24]}")
    unrelated = server.create("not_a_cache")
    out = run("--clear", "--all-projects")
    assert out.startswith("Dropped 2 cached state(s) of every project")
    assert not Path(other).exists() and not Path(mine).exists()
    assert Path(unrelated).exists()


def test_leftovers_of_dead_processes_are_listed_and_dropped(cache_dir, server, tmp_path):
    import tempfile

    where = Path(tempfile.gettempdir())
    gone = server.create(f"{SCRATCH_PREFIX}{dead_pid()}_{uuid.uuid4().hex[:8]}", where)
    alive = server.create(
        f"{SCRATCH_PREFIX}{__import__('os').getpid()}_{uuid.uuid4().hex[:8]}", where
    )
    found = [leftover.name for leftover in leftovers("default")]
    assert gone in found
    assert alive not in found, "a running process's scratch database is not a leftover"
    assert "(process" in run() and "Drop them with --leftovers." in run()

    out = run("--leftovers")
    assert out.startswith("Dropped ")
    assert not server.exists(gone)
    assert server.exists(alive)


def test_refuses_names_without_the_prefixes(vendor) -> None:
    with pytest.raises(ScratchError, match="Refusing to drop ms_tests: it is not a cached state"):
        drop_state("default", "ms_tests")
    with pytest.raises(ScratchError, match="it is not a scratch database"):
        drop_leftover("default", Leftover(name="ms_tests", pid=1, size_bytes=None))


def test_a_cached_state_in_use_is_kept(cache_dir, server, vendor) -> None:
    if vendor != "postgresql":
        pytest.skip("SQLite files have no sessions; a copy in progress keeps its open file")
    name = server.create(f"{project_prefix('default')}{uuid.uuid4().hex[:24]}")
    import psycopg

    settings = ScratchDatabase("default").source.settings_dict
    with psycopg.connect(
        dbname=name,
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
    ):
        err = io.StringIO()
        call_command("scratchcache", clear=True, stdout=io.StringIO(), stderr=err)
        assert f"Kept {name}: a run is using it right now." in err.getvalue()
        assert server.exists(name)


def test_all_projects_needs_clear() -> None:
    with pytest.raises(CommandError, match="--all-projects only goes with --clear"):
        run("--all-projects")
