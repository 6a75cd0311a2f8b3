"""Whether a bundle still describes its migration: the migration file and the SQL files match the
hashes ``bundle.json`` recorded when it was written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from django.db.migrations import Migration
from django.db.migrations.loader import MigrationLoader

from ..bundle.model import Bundle, sha256
from ..capture.graph import migration_source


def stale_parts(bundle: Bundle, path: Path, migration: Migration) -> list[str]:
    """What changed since the bundle was written ("the migration file", "up.sql", "down.sql")."""
    stale = []
    if sha256(migration_source(migration)) != bundle.hashes.get("migration"):
        stale.append("the migration file")
    return stale + _stale_sql(bundle, path)


def stale_files(bundle: Bundle, path: Path, migration_file: Path | None) -> list[str]:
    """What changed since the bundle was written, as sentences ("up.sql changed", "the migration
    file is missing"), from the migration's file, without loading the migration graph."""
    try:
        source = migration_file.read_bytes() if migration_file else None
    except OSError:
        source = None
    if source is None:
        stale = ["the migration file is missing"]
    elif sha256(source) != bundle.hashes.get("migration"):
        stale = ["the migration file changed"]
    else:
        stale = []
    return stale + [f"{name} changed" for name in _stale_sql(bundle, path)]


def _stale_sql(bundle: Bundle, path: Path) -> list[str]:
    stale = []
    for name in ("up.sql", "down.sql"):
        file = path / name
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        if text is None or sha256(text) != bundle.hashes.get(name):
            stale.append(name)
    return stale


def migration_file(app_label: str, migration_name: str) -> Path | None:
    """The file the migration ``app_label.migration_name`` is loaded from (its package is imported,
    the migration module is not), or None when the app or the file is not there."""
    try:
        module, _ = MigrationLoader.migrations_module(app_label)
    except LookupError:  # the app is not installed
        return None
    if not module:
        return None
    try:
        spec = importlib.util.find_spec(f"{module}.{migration_name}")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.has_location:
        return None
    return Path(spec.origin)


def stale_message(bundle: Bundle, stale: list[str]) -> str:
    return (
        f"Stale bundle, regenerate it (manage.py bundlemigration {bundle.app_label} "
        f"{bundle.migration_name}): {' and '.join(stale)} changed since it was written."
    )
