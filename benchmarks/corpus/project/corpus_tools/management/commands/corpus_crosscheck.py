"""Compare a bundle's up.sql and down.sql with what ``migrate`` does to the same database state.

The default database is brought to the migration's parent state and copied to the
``crosscheck`` database. On the copy, ``up.sql`` then ``down.sql`` run through the database's own
client (``psql`` or ``sqlite3``); on the default database, Django's migration executor applies the
migration, then unapplies it (there, RunPython code that queries the default database sees its
own tables). The schemas after each half must be the same. Prints one JSON object.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor

from migration_studio.validation.schema import diff, snapshot

#: The alias of the database the SQL files run on (the settings add it from the environment).
SQL_ALIAS = "crosscheck"


class Command(BaseCommand):
    help = "Compares a bundle's up.sql/down.sql with migrate forwards/backwards (schemas)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("app_label")
        parser.add_argument("migration_name")
        parser.add_argument("bundle", help="The bundle directory (up.sql, down.sql).")

    def handle(self, *args: Any, **options: Any) -> None:
        if SQL_ALIAS not in connections.settings:
            raise CommandError("Set CORPUS_CROSSCHECK_URL to the database the SQL files run on.")
        node = (options["app_label"], options["migration_name"])
        bundle = Path(options["bundle"])
        migrate, sql = connections["default"], connections[SQL_ALIAS]
        executor = MigrationExecutor(migrate)
        if node not in executor.loader.graph.nodes:
            raise CommandError(f"{node[0]}.{node[1]} is not in the migration graph.")
        parents = sorted(p.key for p in executor.loader.graph.node_map[node].parents)
        if parents:
            executor.migrate(parents)
        # Both sides have the bookkeeping table before the comparison starts (a first migration
        # without dependencies has no parent state to create it).
        executor.recorder.ensure_schema()
        migrate.close()
        _clone(migrate.settings_dict, sql.settings_dict)
        result: dict[str, Any] = {"parents": [".".join(p) for p in parents]}

        parent = snapshot(sql)
        result["up_client"] = _run_file(sql.settings_dict, bundle / "up.sql")
        up_sql = snapshot(sql)
        result["down_client"] = _run_file(sql.settings_dict, bundle / "down.sql")
        down_sql = snapshot(sql)

        MigrationExecutor(migrate).migrate([node])
        up_migrate = snapshot(migrate)
        own = [p for p in parents if p[0] == node[0]]
        result["down_diff"] = None
        if len(own) > 1:
            result["down_skipped"] = "a merge migration: no single state to go back to"
        else:
            try:
                MigrationExecutor(migrate).migrate([own[0] if own else (node[0], None)])
            except IrreversibleError as error:
                result["down_skipped"] = f"irreversible: {error}"
            else:
                result["down_diff"] = diff(snapshot(migrate), down_sql)
        result["up_diff"] = diff(up_migrate, up_sql)
        result["down_vs_parent"] = diff(parent, down_sql)
        sql.close()
        migrate.close()
        self.stdout.write(json.dumps(result))


def _clone(source: dict[str, Any], target: dict[str, Any]) -> None:
    """Make the ``target`` database a copy of ``source`` (both exist; target is empty)."""
    if source["ENGINE"].endswith("sqlite3"):
        shutil.copyfile(source["NAME"], target["NAME"])
        return
    connection = connections[SQL_ALIAS]
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{target["NAME"]}"')
        cursor.execute(f'CREATE DATABASE "{target["NAME"]}" TEMPLATE "{source["NAME"]}"')


def _run_file(settings_dict: dict[str, Any], path: Path) -> str:
    """Run a SQL file with the database's client; '' when it ran cleanly, else the first error."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        command = ["sqlite3", "-bail", settings_dict["NAME"]]
    else:
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", settings_dict["NAME"]]
        for option, key in (("-h", "HOST"), ("-p", "PORT"), ("-U", "USER")):
            if settings_dict.get(key):
                command += [option, str(settings_dict[key])]
    with path.open("rb") as stdin:
        done = subprocess.run(command, stdin=stdin, capture_output=True, text=True, check=False)
    if done.returncode:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return lines[0] if lines else f"exit status {done.returncode}"
    return ""
