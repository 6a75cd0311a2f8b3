"""SQLite: a scratch database is a temporary file; cached states are files in ``CACHE_DIR``."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Any

from ... import conf
from .base import SCRATCH_PREFIX, Backend


class SQLiteBackend(Backend):
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

    def scratch_names(self) -> list[str]:
        directory = Path(tempfile.gettempdir())
        return [str(p) for p in directory.glob(f"{SCRATCH_PREFIX}*.sqlite3")]

    def server_version(self) -> str:
        return sqlite3.sqlite_version


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
