"""MySQL and MariaDB: scratch databases on the source's server, no cache (DDL is not
transactional)."""

from __future__ import annotations

from .base import SCRATCH_PREFIX, ServerBackend


class MySQLBackend(ServerBackend):
    maintenance_databases = ("",)  # no database selected

    def scratch_names(self) -> list[str]:
        pattern = SCRATCH_PREFIX.replace("_", r"\_") + "%"
        return [row[0] for row in self._execute("SHOW DATABASES LIKE %s", [pattern])]
