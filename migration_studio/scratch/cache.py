"""What the scratch databases leave on a server: cached states, and leftovers of killed runs.

Cached states (``migration_studio_cache_<project>_<key>``: template databases on PostgreSQL, files
in ``CACHE_DIR`` on SQLite) accumulate, one set per project on a shared server. This module lists
them and drops them on request. It only ever drops names with the cache prefix, or the scratch
prefix of a run whose process is gone, and never a database a session is connected to.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import DatabaseError

from .. import conf
from ..exceptions import ScratchError
from .database import CACHE_PREFIX, SCRATCH_PREFIX, ScratchDatabase

_SCRATCH_NAME = re.compile(rf"{SCRATCH_PREFIX}(\d+)_[0-9a-f]+")


@dataclass
class CachedState:
    name: str
    #: The project tag: 8 hexadecimal digits of the settings module and database name.
    project: str
    this_project: bool
    size_bytes: int | None
    last_used: datetime.datetime | None


@dataclass
class Leftover:
    """A scratch database whose run is over (its process is gone) but that is still there."""

    name: str
    pid: int
    size_bytes: int | None


@contextlib.contextmanager
def _server(alias: str) -> Iterator[ScratchDatabase]:
    """The vendor of ``alias``'s server, for server-level statements; nothing is created."""
    scratch = ScratchDatabase(alias, use_cache=False)
    try:
        yield scratch
    except DatabaseError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ScratchError(
            f"Cannot read the cached states of database '{alias}': {first}"
        ) from None
    finally:
        scratch.vendor.close()


def project_prefix(alias: str) -> str:
    """The name prefix of this project's cached states on the server of ``alias``."""
    return ScratchDatabase(alias, use_cache=False).cache_prefix


def cached_states(alias: str) -> list[CachedState]:
    """Every cached state on the server of ``alias`` (SQLite: in ``CACHE_DIR``), newest first."""
    with _server(alias) as scratch:
        mine = scratch.cache_prefix
        vendor = scratch.source.vendor
        if vendor == "sqlite":
            rows = [
                (p.name.removesuffix(".sqlite3"), p.stat().st_size, p.stat().st_mtime)
                for p in conf.cache_dir().glob(f"{CACHE_PREFIX}*.sqlite3")
            ]
        elif vendor == "postgresql":
            rows = [
                (name, size, _comment_time(comment))
                for name, size, comment in scratch.vendor._execute(  # type: ignore[attr-defined]
                    "SELECT datname, pg_database_size(oid), shobj_description(oid, 'pg_database') "
                    "FROM pg_database WHERE datname LIKE %s",
                    [_like(CACHE_PREFIX)],
                )
            ]
        else:
            rows = []  # no cache on this vendor
    states = [
        CachedState(
            name=name,
            project=name.removeprefix(CACHE_PREFIX).split("_", 1)[0],
            this_project=name.startswith(mine),
            size_bytes=size,
            last_used=(
                datetime.datetime.fromtimestamp(used, datetime.UTC) if used is not None else None
            ),
        )
        for name, size, used in rows
    ]
    return sorted(states, key=lambda s: s.last_used or _EPOCH, reverse=True)


_EPOCH = datetime.datetime.fromtimestamp(0, datetime.UTC)


def _comment_time(comment: str | None) -> float | None:
    try:
        return float((comment or "").split()[-1])
    except (IndexError, ValueError):
        return None


def _like(prefix: str) -> str:
    return prefix.replace("_", r"\_") + "%"


def drop_state(alias: str, name: str) -> bool:
    """Drop the cached state ``name`` and its manifest; False when it is in use (left alone)."""
    if not name.startswith(CACHE_PREFIX) or "/" in name:
        raise ScratchError(f"Refusing to drop {name}: it is not a cached state.")
    with _server(alias) as scratch:
        if scratch.source.vendor == "postgresql":
            if _sessions(scratch, name):
                return False
            try:
                scratch.vendor._execute(  # type: ignore[attr-defined]
                    f"DROP DATABASE IF EXISTS {scratch.source.ops.quote_name(name)}"
                )
            except DatabaseError:  # a run connected to it in the meantime
                return False
        elif scratch.source.vendor == "sqlite":
            (conf.cache_dir() / f"{name}.sqlite3").unlink(missing_ok=True)
    (conf.cache_dir() / f"{name}.json").unlink(missing_ok=True)
    return True


def _sessions(scratch: ScratchDatabase, name: str) -> int:
    rows = scratch.vendor._execute(  # type: ignore[attr-defined]
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
    )
    return int(rows[0][0])


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


def leftovers(alias: str) -> list[Leftover]:
    """Scratch databases on the server of ``alias`` whose process is gone from this machine and
    to which no session is connected (SQLite: files in the temporary directory)."""
    found = []
    with _server(alias) as scratch:
        vendor = scratch.source.vendor
        if vendor == "sqlite":
            candidates = [
                (p.name.removesuffix(".sqlite3"), str(p), p.stat().st_size)
                for p in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*.sqlite3")
            ]
        elif vendor == "postgresql":
            candidates = [
                (name, name, size)
                for name, size in scratch.vendor._execute(  # type: ignore[attr-defined]
                    "SELECT datname, pg_database_size(oid) FROM pg_database WHERE datname LIKE %s",
                    [_like(SCRATCH_PREFIX)],
                )
            ]
        else:
            candidates = [
                (name, name, None)
                for (name,) in scratch.vendor._execute(  # type: ignore[attr-defined]
                    "SHOW DATABASES LIKE %s", [_like(SCRATCH_PREFIX)]
                )
            ]
        for base, name, size in candidates:
            match = _SCRATCH_NAME.fullmatch(base)
            if not match or _process_exists(int(match.group(1))):
                continue
            if vendor == "postgresql" and _sessions(scratch, name):
                continue
            found.append(Leftover(name=name, pid=int(match.group(1)), size_bytes=size))
    return sorted(found, key=lambda leftover: leftover.name)


def drop_leftover(alias: str, leftover: Leftover) -> bool:
    """Drop a leftover scratch database; False when it is in use after all (left alone)."""
    if not _SCRATCH_NAME.fullmatch(Path(leftover.name).name.removesuffix(".sqlite3")):
        raise ScratchError(f"Refusing to drop {leftover.name}: it is not a scratch database.")
    with _server(alias) as scratch:
        if scratch.source.vendor == "sqlite":
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(leftover.name + suffix).unlink(missing_ok=True)
            return True
        try:
            scratch.vendor._execute(  # type: ignore[attr-defined]
                f"DROP DATABASE IF EXISTS {scratch.source.ops.quote_name(leftover.name)}"
            )
        except DatabaseError:
            return False
    return True
