"""Bundles on disk: where they live, reading them back, and writing a directory atomically.

``<BUNDLE_ROOT>/<app_label>/<migration_name>/`` holds the bundle's files. :func:`write_directory`
makes them appear whole or not at all; :func:`load_bundle` reads ``bundle.json`` back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from ..exceptions import BundleError
from .model import Bundle


def bundle_dir(root: Path, app_label: str, migration_name: str) -> Path:
    return Path(root) / app_label / migration_name


def write_directory(target: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> text) as directory ``target``, atomically, and return it.

    The files are written into a hidden staging directory beside the target, which then replaces
    the target in one rename, so a reader sees the old bundle or the new one, never a mix.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
        staged.mkdir()
    except OSError as error:
        raise BundleError(
            f"Cannot write the bundle to {target.parent}: {error.strerror}."
        ) from None
    try:
        for name, text in files.items():
            (staged / name).write_text(text, encoding="utf-8")
        _replace_directory(staged, target)
    except BaseException as error:
        shutil.rmtree(staged, ignore_errors=True)
        if isinstance(error, OSError):
            raise BundleError(f"Cannot write the bundle to {target}: {error.strerror}.") from None
        raise
    return target


def _replace_directory(staged: Path, target: Path, attempts: int = 5) -> None:
    """Move ``staged`` to ``target``, retiring what is there; another run may be doing the same."""
    for attempt in range(attempts):
        retired = None
        try:
            if target.exists():
                retired = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
                os.replace(target, retired)
            os.replace(staged, target)
        except OSError as error:
            # Another run moved its own bundle in (or the old one out) in between: try again.
            if error.errno not in (errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY):
                raise
            if attempt == attempts - 1:
                raise
            continue
        finally:
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
        return


def remove_bundle(root: Path, app_label: str, migration_name: str) -> None:
    target = bundle_dir(root, app_label, migration_name)
    shutil.rmtree(target, ignore_errors=True)
    with contextlib.suppress(OSError):
        target.parent.rmdir()  # only when empty


def load_bundle(path: Path) -> Bundle:
    """Read the bundle in directory ``path``."""
    file = Path(path) / "bundle.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path} is not a bundle: it has no bundle.json.") from None
    except json.JSONDecodeError as error:
        raise BundleError(
            f"{file} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise BundleError(f"{file} cannot be read: {error}.") from None
    problem = _shape_problem(data)
    if problem:
        raise BundleError(f"{file} is not a valid bundle: {problem}.")
    try:
        return Bundle.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise BundleError(f"{file} is not a valid bundle: {error}.") from None


def _shape_problem(data: Any) -> str:
    """What keeps ``data`` from being a bundle.json document (a missing key ...), or ''."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    required = [f.name for f in fields(Bundle) if MISSING is f.default is f.default_factory]
    for key in [*required, "hashes"]:
        if key not in data:
            return f"it has no '{key}'"
    if not isinstance(data["operations"], list):
        return "its 'operations' is not a list"
    for position, op in enumerate(data["operations"]):
        for key in ("index", "class", "description"):
            if not isinstance(op, dict) or key not in op:
                return f"operation {position + 1} has no '{key}'"
    return ""


def bundle_problem(path: Path) -> str:
    """Why the bundle in directory ``path`` cannot be used, or '' when it can be read."""
    try:
        load_bundle(path)
    except BundleError as error:
        return str(error)
    return ""


def unwritable_reason(path: Path) -> str | None:
    """Why files cannot be written in directory ``path`` (created if missing), or None.

    Nothing is created: the nearest existing ancestor must be a directory that accepts a file.
    """
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    try:
        fd, probe = tempfile.mkstemp(prefix=".migration_studio_probe_", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        return error.strerror
    return None


def ensure_writable(root: Path) -> None:
    """Fail early, with one sentence, when bundles cannot be written under ``root``."""
    problem = unwritable_reason(root)
    if problem:
        raise BundleError(
            f"The bundle directory {root} is not writable ({problem}); set "
            "MIGRATION_STUDIO['BUNDLE_ROOT'] to a writable directory."
        )
