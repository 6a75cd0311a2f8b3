"""PostgreSQL: scratch databases on the source's server, copied from cached states as templates;
a cached state can also be used in place, inside a transaction that is rolled back."""

from __future__ import annotations

import time

from .base import SCRATCH_PREFIX, ServerBackend


class PostgreSQLBackend(ServerBackend):
    supports_cache = True
    supports_in_place = True
    maintenance_databases = ("postgres", None)

    def drop(self, name: str) -> None:
        # WITH (FORCE) ends sessions a crashed run may have left behind (PostgreSQL 13+).
        self._execute(f"DROP DATABASE IF EXISTS {self.quote(name)} WITH (FORCE)")

    def server_version(self) -> str:
        return str(self._execute("SHOW server_version")[0][0])

    def scratch_names(self) -> list[str]:
        pattern = SCRATCH_PREFIX.replace("_", r"\_") + "%"
        rows = self._execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])
        return [row[0] for row in rows]

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
