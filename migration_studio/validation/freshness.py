"""Whether a bundle still describes its migration: the migration file and the SQL files match the
hashes ``bundle.json`` recorded when it was written."""

from __future__ import annotations

from pathlib import Path

from django.db.migrations import Migration

from ..bundle.model import Bundle, sha256
from ..capture.graph import migration_source


def stale_parts(bundle: Bundle, path: Path, migration: Migration) -> list[str]:
    """What changed since the bundle was written ("the migration file", "up.sql", "down.sql")."""
    stale = []
    if sha256(migration_source(migration)) != bundle.hashes.get("migration"):
        stale.append("the migration file")
    for name in ("up.sql", "down.sql"):
        file = path / name
        if not file.exists() or sha256(file.read_text(encoding="utf-8")) != bundle.hashes.get(name):
            stale.append(name)
    return stale


def stale_message(bundle: Bundle, stale: list[str]) -> str:
    return (
        f"Stale bundle, regenerate it (manage.py bundlemigration {bundle.app_label} "
        f"{bundle.migration_name}): {' and '.join(stale)} changed since it was written."
    )
