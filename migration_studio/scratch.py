"""Scratch databases: created by the tool, clearly named, always dropped.

A scratch database lives on the same server as the connection it is derived from (for SQLite: a
temporary file). Its name starts with :data:`SCRATCH_PREFIX`, and :meth:`ScratchDatabase.drop`
refuses any name without it, so the tool can never drop a database it did not create.

Migration-graph states the tool builds often are kept as a cache, named with :data:`CACHE_PREFIX`,
a project tag and the state's key: a database on PostgreSQL, a file on SQLite. Beside each one, a
manifest in ``CACHE_DIR`` lists the migrations (and file hashes) it holds, so a run whose exact
state is not cached starts from the closest earlier one. On PostgreSQL a cached state is also used
in place, inside a transaction that is always rolled back, which saves copying the database.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import NO_DB_ALIAS, BaseDatabaseWrapper
from django.db.utils import ConnectionDoesNotExist, load_backend

from . import conf
from .bundle import sha256

if TYPE_CHECKING:
    from .partialcopy import PartialCopy

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


def _wrapper(settings_dict: dict[str, Any], alias: str) -> BaseDatabaseWrapper:
    return load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)


class _Vendor:
    """How one kind of server creates, copies and drops databases."""

    supports_cache = False
    #: A cached state can be used directly inside a rolled-back transaction (transactional DDL).
    supports_in_place = False

    def __init__(self, source: BaseDatabaseWrapper) -> None:
        self.source = source

    def new_name(self) -> str:
        return f"{SCRATCH_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"

    def create(self, name: str, template: str | None) -> None:
        raise NotImplementedError("a vendor must say how to create a database")

    def drop(self, name: str) -> None:
        raise NotImplementedError("a vendor must say how to drop a database")

    def exists(self, name: str) -> bool:
        """Whether the cached state ``name`` exists (vendors without a cache have none)."""
        return False

    def cached_names(self, prefix: str) -> list[str]:
        """Cached states whose names start with ``prefix``, least recently used first."""
        return []

    def touch(self, name: str) -> None:
        """Mark a cached state as just used."""

    def publish(self, name: str, cache_name: str, *, keep: bool) -> bool:
        """Turn scratch database ``name`` into ``cache_name``; keep a working copy if ``keep``.

        Returns False when ``name`` is gone (moved into the cache).
        """
        raise ScratchError(f"{self.source.vendor} scratch databases are not cached.")

    def settings_for(self, name: str) -> dict[str, Any]:
        settings_dict = copy.deepcopy(self.source.settings_dict)
        settings_dict["NAME"] = name
        return settings_dict

    def server_version(self) -> str:
        raise NotImplementedError("a vendor must say how to read its version")

    def close(self) -> None:
        """Release what the vendor holds (maintenance connections)."""


class _SQLite(_Vendor):
    supports_cache = True

    def new_name(self) -> str:
        return str(Path(tempfile.gettempdir()) / f"{super().new_name()}.sqlite3")

    def settings_for(self, name: str) -> dict[str, Any]:
        # A throwaway file: no fsync and an in-memory journal (the statements are unchanged).
        settings_dict = super().settings_for(name)
        options = settings_dict.setdefault("OPTIONS", {})
        fast = "PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY"
        own = options.get("init_command")
        options["init_command"] = f"{own}; {fast}" if own else fast
        return settings_dict

    def _path(self, cache_name: str) -> Path:
        return conf.cache_dir() / f"{cache_name}.sqlite3"

    def create(self, name: str, template: str | None) -> None:
        if template:
            shutil.copyfile(self._path(template), name)
        else:
            Path(name).touch()

    def drop(self, name: str) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name + suffix)

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def cached_names(self, prefix: str) -> list[str]:
        paths = sorted(conf.cache_dir().glob(f"{prefix}*.sqlite3"), key=_mtime)
        return [p.name.removesuffix(".sqlite3") for p in paths]

    def touch(self, name: str) -> None:
        with contextlib.suppress(OSError):
            os.utime(self._path(name))

    def publish(self, name: str, cache_name: str, *, keep: bool) -> bool:
        staged = conf.cache_dir() / f".{uuid.uuid4().hex}.tmp"
        shutil.copyfile(name, staged)
        os.replace(staged, self._path(cache_name))
        return True

    def drop_cached(self, cache_name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(cache_name).unlink()

    def server_version(self) -> str:
        import sqlite3

        return sqlite3.sqlite_version


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class _Server(_Vendor):
    """PostgreSQL and MySQL/MariaDB: scratch databases on the same server."""

    #: Databases to connect to for server-level statements, tried in order; ``None`` is the
    #: alias's own database. Never another alias's server (unlike Django's ``_nodb_cursor``).
    maintenance_databases: tuple[str | None, ...] = (None,)
    _maintenance: BaseDatabaseWrapper | None = None

    def _connection(self) -> BaseDatabaseWrapper:
        if self._maintenance is not None:
            return self._maintenance
        error: DatabaseError | None = None
        for name in self.maintenance_databases:
            settings_dict = copy.deepcopy(self.source.settings_dict)
            if name is not None:
                settings_dict["NAME"] = name
            # Django's own alias for server-level connections: handlers of connection_created
            # (contrib.postgres' type registration) leave it alone.
            connection = _wrapper(settings_dict, NO_DB_ALIAS)
            try:
                connection.ensure_connection()
            except DatabaseError as failure:
                error = failure
                continue
            self._maintenance = connection
            return connection
        assert error is not None
        raise error

    def close(self) -> None:
        if self._maintenance is not None:
            with contextlib.suppress(Exception):
                self._maintenance.close()
            self._maintenance = None

    def _execute(self, sql: str, params: Any = None) -> list[tuple]:
        with self._connection().cursor() as cursor:
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
    supports_in_place = True
    maintenance_databases = ("postgres", None)

    def drop(self, name: str) -> None:
        # WITH (FORCE) ends sessions a crashed run may have left behind (PostgreSQL 13+).
        self._execute(f"DROP DATABASE IF EXISTS {self.quote(name)} WITH (FORCE)")

    def server_version(self) -> str:
        return str(self._execute("SHOW server_version")[0][0])

    def exists(self, name: str) -> bool:
        return bool(self._execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]))

    def touch(self, name: str) -> None:
        self._execute(
            f"COMMENT ON DATABASE {self.quote(name)} IS "
            f"'migration_studio cached state, used {time.time():.3f}'"
        )

    def cached_names(self, prefix: str) -> list[str]:
        rows = self._execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname LIKE %s",
            [prefix.replace("_", r"\_") + "%"],
        )

        def last_used(row: tuple) -> float:
            try:
                return float((row[1] or "").split()[-1])
            except (IndexError, ValueError):
                return 0.0

        return [row[0] for row in sorted(rows, key=last_used)]

    def publish(self, name: str, cache_name: str, *, keep: bool) -> bool:
        if keep:
            self._execute(f"CREATE DATABASE {self.quote(cache_name)} TEMPLATE {self.quote(name)}")
        else:
            self._execute(f"ALTER DATABASE {self.quote(name)} RENAME TO {self.quote(cache_name)}")
        self.touch(cache_name)
        return keep

    def drop_cached(self, cache_name: str) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {self.quote(cache_name)}")


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
    run by migrations (RunPython) can never reach the real database. A cached state opened with
    :meth:`open_in_place` is never dropped: everything done to it is rolled back.
    """

    def __init__(self, alias: str, *, use_cache: bool = True) -> None:
        self.alias = alias
        self.source = source_connection(alias)
        self.vendor = _VENDORS[self.source.vendor](self.source)
        self.use_cache = bool(
            use_cache and self.vendor.supports_cache and conf.get("SCRATCH_CACHE")
        )
        self.name: str | None = None
        self.connection: BaseDatabaseWrapper | None = None
        self.in_place: str | None = None
        #: SQLite: the cached state this database gets its tables from, as captures need them
        #: (see partialcopy.py and :meth:`copy_tables`).
        self.partial: PartialCopy | None = None
        #: Whether a partial copy was used at some point (a failure may then be the copy's).
        self.was_partial = False
        self._transaction: Any = None
        self._previous_sigterm: Any = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> ScratchDatabase:
        self._trap_sigterm()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.drop()
        finally:
            self.vendor.close()
            self._release_sigterm()

    def server_version(self) -> str:
        try:
            return self.vendor.server_version()
        except DatabaseError as error:
            raise self._unreachable(error) from None

    def create(self, template: str | None = None, *, partial: bool = False) -> bool:
        """Create the database, as a copy of the cached state ``template`` when given.

        Returns True when it was created from the cache (a busy or vanished template gives an
        empty database instead). With ``partial``, a SQLite database starts empty and gets the
        template's tables from :meth:`copy_tables` (see partialcopy.py), where the template allows.
        """
        assert self.name is None and self.connection is None, "a ScratchDatabase is created once"
        if template and partial and self._create_partial(template):
            return True
        self.name = self.vendor.new_name()
        try:
            if template:
                try:
                    self.vendor.create(self.name, template)
                    self.vendor.touch(template)
                except (DatabaseError, OSError):
                    template = None
            if not template:
                self.vendor.create(self.name, None)
        except DatabaseError as error:
            raise self._unreachable(error) from None
        except OSError as error:
            raise ScratchError(
                f"Could not create the scratch database {self.name}: {error}."
            ) from None
        self.connection = _wrapper(self.vendor.settings_for(self.name), self.alias)
        return template is not None

    # -- partial copies (SQLite; see partialcopy.py) -----------------------------------------------

    def _open_partial(self, cache_name: str) -> PartialCopy | None:
        """The cached state ``cache_name`` opened for a partial copy, when it allows one."""
        if not isinstance(self.vendor, _SQLite) or not self.vendor.exists(cache_name):
            return None
        from .partialcopy import PartialCopy  # SQLite only: no sqlite3 import on other servers

        return PartialCopy.open(self.vendor._path(cache_name))

    def _create_partial(self, template: str, source: PartialCopy | None = None) -> bool:
        """An empty SQLite database that gets the tables of ``template`` (``source``: opened
        already) from :meth:`copy_tables`; False (nothing created) when it cannot be copied in part.
        """
        source = source or self._open_partial(template)
        if source is None:
            return False
        self.name = self.vendor.new_name()
        try:
            self.vendor.create(self.name, None)
        except OSError as error:
            source.close()
            raise ScratchError(
                f"Could not create the scratch database {self.name}: {error}."
            ) from None
        self.vendor.touch(template)
        self.partial = source
        self.was_partial = True
        self.connection = _wrapper(self.vendor.settings_for(self.name), self.alias)
        return True

    def reopen_partial(self, cache_name: str) -> bool:
        """Go on with a partial copy of the cached state ``cache_name``, just published from this
        (full) database, which is dropped. False when the database stays as it is."""
        if self.partial is not None or self.in_place is not None or self.name is None:
            return False
        source = self._open_partial(cache_name)
        if source is None:
            return False
        try:
            self.drop()
        except BaseException:
            source.close()
            raise
        return self._create_partial(cache_name, source)

    def copy_tables(self, tables: Iterable[str] | None) -> None:
        """On a partial copy, make sure the tables named ``tables`` (None: every table) are there;
        raises sqlite3.Error (then capture on a full copy). Anywhere else, nothing to do."""
        if self.partial is not None:
            assert self.connection is not None
            self.partial.copy(self.connection, tables)

    def open_in_place(self, cache_name: str) -> None:
        """Use the cached state directly, inside a transaction :meth:`drop` rolls back."""
        assert self.name is None and self.connection is None
        self.vendor.touch(cache_name)
        self.in_place = cache_name
        self.connection = _wrapper(self.vendor.settings_for(cache_name), self.alias)
        self._transaction = transaction.atomic(using=self.alias)
        with self.activated():
            self._transaction.__enter__()

    def publish(self, cache_name: str, manifest: dict[str, Any], *, keep: bool) -> None:
        """Keep the current content as the cached state ``cache_name``.

        Without ``keep`` the scratch database itself may become the cache (PostgreSQL renames it);
        then nothing is left to work on and the caller opens the cache in place. A failure only
        means no cache: a run never fails because of it.
        """
        assert self.name is not None and self.connection is not None
        self.connection.close()
        directory = conf.cache_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            kept = self.vendor.publish(self.name, cache_name, keep=keep)
        except (DatabaseError, OSError):
            return
        if not kept:
            self.name, self.connection = None, None
        staged = directory / f".{uuid.uuid4().hex}.json"
        with contextlib.suppress(OSError):
            staged.write_text(json.dumps(manifest))
            os.replace(staged, directory / f"{cache_name}.json")
        self._evict(cache_name)

    def drop(self) -> None:
        if self.partial is not None:
            self.partial.close()
            self.partial = None
        if self.in_place is not None:
            self._leave_in_place()
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

    def _leave_in_place(self) -> None:
        assert self.connection is not None
        try:
            with self.activated():
                transaction.set_rollback(True, using=self.alias)
                self._transaction.__exit__(None, None, None)
        finally:
            # Closing also rolls back anything still open, whatever happened above.
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection, self.in_place, self._transaction = None, None, None

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

    # -- the cache -----------------------------------------------------------------------------

    @property
    def cache_prefix(self) -> str:
        """Cached states of this project on this server (other projects' are left alone)."""
        project = sha256(f"{settings.SETTINGS_MODULE}|{self.source.settings_dict['NAME']}")
        return f"{CACHE_PREFIX}{project[:8]}_"

    def cache_name(self, key: str) -> str:
        return f"{self.cache_prefix}{key}"

    def cached(self, key: str) -> str | None:
        """The name of the cached state ``key``, when the cache has it."""
        if not self.use_cache:
            return None
        name = self.cache_name(key)
        try:
            return name if self.vendor.exists(name) else None
        except DatabaseError as error:
            raise self._unreachable(error) from None

    def closest_cached(self, context: str, files: dict[str, str]) -> tuple[str, dict] | None:
        """The cached state with the most migrations that all belong to ``files`` (same hashes)."""
        if not self.use_cache:
            return None
        best: tuple[str, dict] | None = None
        for path in conf.cache_dir().glob(f"{self.cache_prefix}*.json"):
            try:
                manifest = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            entries = manifest.get("files", {})
            if manifest.get("context") != context or not entries:
                continue
            if any(files.get(node) != sha for node, sha in entries.items()):
                continue
            if best is None or len(entries) > len(best[1]["files"]):
                best = (path.stem, manifest)
        if best and not self.vendor.exists(best[0]):
            return None
        return best

    def _evict(self, keep: str) -> None:
        with contextlib.suppress(DatabaseError, OSError):
            names = [n for n in self.vendor.cached_names(self.cache_prefix) if n != keep]
            for stale in names[: max(0, len(names) - conf.get("CACHE_SIZE") + 1)]:
                self.vendor.drop_cached(stale)
                (conf.cache_dir() / f"{stale}.json").unlink(missing_ok=True)

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
    """Names of scratch databases currently present on the server of ``alias``."""
    source = source_connection(alias)
    if source.vendor == "sqlite":
        directory = Path(tempfile.gettempdir())
        return sorted(str(p) for p in directory.glob(f"{SCRATCH_PREFIX}*.sqlite3"))
    vendor = _VENDORS[source.vendor](source)
    assert isinstance(vendor, _Server)
    pattern = SCRATCH_PREFIX.replace("_", r"\_") + "%"
    try:
        if source.vendor == "postgresql":
            rows = vendor._execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern]
            )
        else:
            rows = vendor._execute("SHOW DATABASES LIKE %s", [pattern])
    finally:
        vendor.close()
    return sorted(row[0] for row in rows)
