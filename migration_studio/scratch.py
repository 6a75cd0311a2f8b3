"""Scratch databases: created by the tool, clearly named, always dropped.

A scratch database lives on the same server as the connection it is derived from (for SQLite: a
temporary file). Its name starts with :data:`SCRATCH_PREFIX`, and :meth:`ScratchDatabase.drop`
refuses any name without it, so the tool can never drop a database it did not create.

States the tool builds often (the whole migration graph applied) can be kept as a cache: a template
database on PostgreSQL, a file on SQLite, named with :data:`CACHE_PREFIX` and the state's key.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionDoesNotExist, load_backend

from . import conf

SCRATCH_PREFIX = "migration_studio_scratch_"
CACHE_PREFIX = "migration_studio_cache_"
SUPPORTED_VENDORS = ("sqlite", "postgresql", "mysql")


class ScratchError(Exception):
    """A scratch database could not be created, used or dropped; the message is for the user."""


def describe_server(alias: str) -> str:
    """A short human description of where ``alias`` points, without credentials."""
    s = connections[alias].settings_dict
    vendor = connections[alias].vendor
    if vendor == "sqlite":
        return f"sqlite database {s['NAME']}"
    host = s.get("HOST") or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"{vendor} database '{s['NAME']}' at {host}{port}"


def source_connection(alias: str) -> BaseDatabaseWrapper:
    try:
        connection = connections[alias]
    except ConnectionDoesNotExist:
        raise ScratchError(
            f"There is no database '{alias}' in DATABASES; choose one with --database."
        ) from None
    if connection.vendor not in SUPPORTED_VENDORS:
        raise ScratchError(
            f"Database '{alias}' uses {connection.vendor}, which is not supported "
            f"(supported: {', '.join(SUPPORTED_VENDORS)})."
        )
    return connection


class _Vendor:
    """How one kind of server creates, copies and drops databases."""

    supports_cache = False

    def __init__(self, source: BaseDatabaseWrapper) -> None:
        self.source = source

    def new_name(self) -> str:
        return f"{SCRATCH_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"

    def create(self, name: str, template: str | None) -> None:
        raise NotImplementedError("a vendor must say how to create a database")

    def drop(self, name: str) -> None:
        raise NotImplementedError("a vendor must say how to drop a database")

    def settings_for(self, name: str) -> dict[str, Any]:
        settings_dict = copy.deepcopy(self.source.settings_dict)
        settings_dict["NAME"] = name
        return settings_dict

    def has_cache(self, key: str) -> bool:
        return False

    def publish_cache(self, name: str, key: str) -> None:
        """Keep the (closed) scratch database ``name`` as the cached state ``key``."""

    def cache_name(self, key: str) -> str:
        return f"{CACHE_PREFIX}{key}"

    def server_version(self) -> str:
        raise NotImplementedError


class _SQLite(_Vendor):
    supports_cache = True

    def new_name(self) -> str:
        directory = Path(tempfile.gettempdir())
        return str(directory / f"{super().new_name()}.sqlite3")

    def create(self, name: str, template: str | None) -> None:
        if template:
            shutil.copyfile(self._cache_path(template), name)
            os.utime(self._cache_path(template))  # keeps recently used states in the cache
        else:
            Path(name).touch()

    def drop(self, name: str) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name + suffix)

    def _cache_path(self, cache_name: str) -> Path:
        return conf.cache_dir() / f"{cache_name}.sqlite3"

    def has_cache(self, key: str) -> bool:
        return self._cache_path(self.cache_name(key)).exists()

    def publish_cache(self, name: str, key: str) -> None:
        directory = conf.cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        staged = directory / f".{uuid.uuid4().hex}.tmp"
        shutil.copyfile(name, staged)
        os.replace(staged, self._cache_path(self.cache_name(key)))
        entries = sorted(
            directory.glob(f"{CACHE_PREFIX}*.sqlite3"), key=lambda p: p.stat().st_mtime
        )
        for stale in entries[: -conf.get("CACHE_SIZE")]:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    def server_version(self) -> str:
        import sqlite3

        return sqlite3.sqlite_version


class _Server(_Vendor):
    """PostgreSQL and MySQL/MariaDB: scratch databases on the same server."""

    #: Databases to connect to for server-level statements, tried in order; ``None`` is the
    #: alias's own database. Never another alias's server (unlike Django's ``_nodb_cursor``).
    maintenance_databases: tuple[str | None, ...] = (None,)

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        error: DatabaseError | None = None
        for name in self.maintenance_databases:
            settings_dict = copy.deepcopy(self.source.settings_dict)
            if name is not None:
                settings_dict["NAME"] = name
            backend = load_backend(settings_dict["ENGINE"])
            connection = backend.DatabaseWrapper(settings_dict, alias=f"{self.source.alias}_server")
            try:
                connection.ensure_connection()
            except DatabaseError as failure:
                error = failure
                continue
            try:
                with connection.cursor() as cursor:
                    yield cursor
            finally:
                connection.close()
            return
        assert error is not None
        raise error

    def _execute(self, sql: str, params: Any = None) -> list[tuple]:
        with self._cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def quote(self, name: str) -> str:
        return self.source.ops.quote_name(name)

    def create(self, name: str, template: str | None) -> None:
        sql = f"CREATE DATABASE {self.quote(name)}"
        if template:
            sql += f" TEMPLATE {self.quote(template)}"
        self._execute(sql)

    def drop(self, name: str) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {self.quote(name)}")

    def server_version(self) -> str:
        return str(self._execute("SELECT version()")[0][0])


class _PostgreSQL(_Server):
    supports_cache = True
    maintenance_databases = ("postgres", None)

    def drop(self, name: str) -> None:
        # WITH (FORCE) ends sessions a crashed run may have left behind (PostgreSQL 13+).
        self._execute(f"DROP DATABASE IF EXISTS {self.quote(name)} WITH (FORCE)")

    def server_version(self) -> str:
        return str(self._execute("SHOW server_version")[0][0])

    def has_cache(self, key: str) -> bool:
        rows = self._execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.cache_name(key)])
        return bool(rows)

    def _stamp(self, cache_name: str) -> None:
        self._execute(
            f"COMMENT ON DATABASE {self.quote(cache_name)} IS "
            f"'migration_studio cached state, used {time.time():.0f}'"
        )

    def create(self, name: str, template: str | None) -> None:
        super().create(name, template)
        if template:
            self._stamp(template)

    def publish_cache(self, name: str, key: str) -> None:
        cache_name = self.cache_name(key)
        try:
            self._execute(f"CREATE DATABASE {self.quote(cache_name)} TEMPLATE {self.quote(name)}")
        except DatabaseError:
            return  # another run published the same state first, or the server refused: no cache
        self._stamp(cache_name)
        rows = self._execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname LIKE %s",
            [CACHE_PREFIX.replace("_", r"\_") + "%"],
        )

        def last_used(row: tuple) -> float:
            words = (row[1] or "").split()
            try:
                return float(words[-1])
            except (IndexError, ValueError):
                return 0.0

        for stale, _ in sorted(rows, key=last_used)[: -conf.get("CACHE_SIZE")]:
            with contextlib.suppress(DatabaseError):
                self._execute(f"DROP DATABASE IF EXISTS {self.quote(stale)}")


class _MySQL(_Server):
    maintenance_databases = ("",)  # no database selected


_VENDORS: dict[str, type[_Vendor]] = {
    "sqlite": _SQLite,
    "postgresql": _PostgreSQL,
    "mysql": _MySQL,
}


class ScratchDatabase:
    """A database created for one run and dropped at its end, whatever happens.

    Use as a context manager. While it is open, :meth:`activated` routes the alias to it, so code
    run by migrations (RunPython) can never reach the real database.
    """

    def __init__(self, alias: str, *, use_cache: bool = True) -> None:
        self.alias = alias
        self.source = source_connection(alias)
        self.vendor = _VENDORS[self.source.vendor](self.source)
        self.use_cache = use_cache and self.vendor.supports_cache and conf.get("SCRATCH_CACHE")
        self.name: str | None = None
        self.connection: BaseDatabaseWrapper | None = None
        self._previous_sigterm: Any = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> ScratchDatabase:
        self._trap_sigterm()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.drop()
        finally:
            self._release_sigterm()

    def server_version(self) -> str:
        try:
            return self.vendor.server_version()
        except DatabaseError as error:
            raise self._unreachable(error) from None

    def create(self, cache_key: str | None = None) -> bool:
        """Create the database, from the cached state ``cache_key`` when there is one.

        Returns True when it was created from the cache.
        """
        assert self.name is None, "a ScratchDatabase is created once"
        name = self.vendor.new_name()
        template = None
        try:
            if cache_key and self.use_cache and self.vendor.has_cache(cache_key):
                template = self.vendor.cache_name(cache_key)
            self.name = name
            self.vendor.create(name, template)
        except DatabaseError as error:
            raise self._unreachable(error) from None
        except OSError as error:
            raise ScratchError(f"Could not create the scratch database {name}: {error}.") from None
        settings_dict = self.vendor.settings_for(name)
        backend = load_backend(settings_dict["ENGINE"])
        self.connection = backend.DatabaseWrapper(settings_dict, self.alias)
        return template is not None

    def publish(self, cache_key: str) -> None:
        """Keep the current content as the cached state ``cache_key`` (no-op without a cache)."""
        if not self.use_cache or self.name is None or self.connection is None:
            return
        self.connection.close()
        # A cache is an optimisation: a run never fails because of it.
        with contextlib.suppress(DatabaseError, OSError):
            self.vendor.publish_cache(self.name, cache_key)

    def drop(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None
        if self.name is None:
            return
        name, self.name = self.name, None
        if not Path(name).name.startswith(SCRATCH_PREFIX):
            raise ScratchError(f"Refusing to drop {name}: it is not a scratch database.")
        try:
            self.vendor.drop(name)
        except (DatabaseError, OSError) as error:
            raise ScratchError(
                f"Could not drop the scratch database {name}: {error}. Drop it by hand."
            ) from None

    @contextlib.contextmanager
    def activated(self) -> Iterator[BaseDatabaseWrapper]:
        """Route ``connections[alias]`` to the scratch database for the duration."""
        assert self.connection is not None, "create() the scratch database first"
        original = connections[self.alias]
        connections[self.alias] = self.connection
        try:
            yield self.connection
        finally:
            connections[self.alias] = original

    # -- helpers ---------------------------------------------------------------------------------

    def _unreachable(self, error: Exception) -> ScratchError:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return ScratchError(
            f"Cannot create a scratch database on the server of {describe_server(self.alias)}: "
            f"{first_line}"
        )

    def _trap_sigterm(self) -> None:
        """Turn SIGTERM into KeyboardInterrupt so the database is dropped on `kill` too."""
        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)

    def _release_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def leftover_scratch_databases(alias: str) -> list[str]:
    """Names of scratch databases currently present on the server of ``alias`` (for tests/ops)."""
    source = source_connection(alias)
    if source.vendor == "sqlite":
        directory = Path(tempfile.gettempdir())
        return sorted(str(p) for p in directory.glob(f"{SCRATCH_PREFIX}*.sqlite3"))
    vendor = _VENDORS[source.vendor](source)
    assert isinstance(vendor, _Server)
    if source.vendor == "postgresql":
        rows = vendor._execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            [SCRATCH_PREFIX.replace("_", r"\_") + "%"],
        )
    else:
        rows = vendor._execute("SHOW DATABASES LIKE %s", [SCRATCH_PREFIX.replace("_", r"\_") + "%"])
    return sorted(row[0] for row in rows)
