"""One module per vendor; :data:`BACKENDS` maps Django's ``connection.vendor`` to its backend."""

from __future__ import annotations

from .base import Backend
from .mysql import MySQLBackend
from .postgresql import PostgreSQLBackend
from .sqlite import SQLiteBackend

BACKENDS: dict[str, type[Backend]] = {
    "sqlite": SQLiteBackend,
    "postgresql": PostgreSQLBackend,
    "mysql": MySQLBackend,
}
