"""What a scratch-database backend does: create, copy, cache and drop databases of one vendor.

:class:`Backend` is the interface; :class:`ServerBackend` holds what PostgreSQL and MySQL/MariaDB
share (scratch databases on the source's own server, through one maintenance connection).
"""

from __future__ import annotations

import contextlib
import copy
import os
import uuid
from typing import Any

from django.db import DatabaseError
from django.db.backends.base.base import NO_DB_ALIAS, BaseDatabaseWrapper
from django.db.utils import load_backend

from ...exceptions import ScratchError

#: Every database the tool creates starts with one of these; it never drops any other.
SCRATCH_PREFIX = "migration_studio_scratch_"
CACHE_PREFIX = "migration_studio_cache_"


def wrapper(settings_dict: dict[str, Any], alias: str) -> BaseDatabaseWrapper:
    return load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)


class Backend:
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

    def scratch_names(self) -> list[str]:
        """The scratch databases present now (this run's and other runs')."""
        raise NotImplementedError("a vendor must say how to list its databases")


class ServerBackend(Backend):
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
            connection = wrapper(settings_dict, NO_DB_ALIAS)
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
