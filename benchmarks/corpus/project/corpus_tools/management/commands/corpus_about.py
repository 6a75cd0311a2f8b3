"""Print the versions the run measures, and how migration_studio names the databases it creates
(scratch databases; the project's cached states), as JSON."""

from __future__ import annotations

import json
import platform
from typing import Any

import django
from django.core.management.base import BaseCommand
from django.db import connection

from migration_studio.scratch.database import SCRATCH_PREFIX, ScratchDatabase


class Command(BaseCommand):
    help = "Versions of Django, Python and the database server, and the name prefixes."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor == "postgresql":
            major, minor = divmod(connection.pg_version, 10000)
            server = f"PostgreSQL {major}.{minor}"
        elif connection.vendor == "sqlite":
            server = f"SQLite {connection.Database.sqlite_version}"
        else:
            server = connection.vendor
        about = {
            "django": django.get_version(),
            "python": platform.python_version(),
            "server": server,
            "cache_prefix": ScratchDatabase("default").cache_prefix,
            "scratch_prefix": SCRATCH_PREFIX,
        }
        self.stdout.write(json.dumps(about))
