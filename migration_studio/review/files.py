"""The bundle files a review page reads: only inside ``BUNDLE_ROOT``, at the place the record's
app label and migration name give, whatever the record's ``path`` says; never a path taken from
a request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import conf
from ..models import MigrationBundle

#: Larger files are not shown in a page (the reviewer is told to open the file).
MAX_BYTES = 2_000_000


class OutsideRoot(Exception):
    """The record points outside BUNDLE_ROOT (or at a link leading out of it)."""


def bundle_path(record: MigrationBundle) -> Path:
    """The bundle directory of ``record``, resolved and confined to ``BUNDLE_ROOT``."""
    root = conf.bundle_root().resolve()
    expected = (root / record.app_label / record.migration_name).resolve()
    if (
        expected.parent.parent != root
        or Path(record.path).resolve() != expected
        or not expected.is_relative_to(root)
    ):
        raise OutsideRoot(
            f"The record of {record} points at {record.path}, not at its directory under the "
            f"bundle root {root}; its files are not read. Re-sync the bundle from its files."
        )
    return expected


def read_text(path: Path, name: str) -> str | None:
    """The text of ``path / name``, or None when it is missing, unreadable or too large."""
    file = path / name
    try:
        if file.stat().st_size > MAX_BYTES:
            return None
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def read_json(path: Path, name: str) -> dict[str, Any]:
    text = read_text(path, name)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
