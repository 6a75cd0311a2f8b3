"""The bundle: a migration's exact SQL and what a reviewer needs, as files on disk.

``<BUNDLE_ROOT>/<app_label>/<migration_name>/`` holds ``up.sql``, ``down.sql``, ``bundle.json`` and
``README.md``. :func:`write_bundle` writes a bundle atomically (it appears whole or not at all);
:func:`load_bundle` reads one back.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
SQL_FILES = ("up.sql", "down.sql")


class BundleError(Exception):
    """A bundle could not be written or read; the message is for the user."""


@dataclass
class OperationSQL:
    """The statements one operation runs, forwards and backwards, as captured by executing it."""

    index: int
    operation: str
    description: str
    forward_sql: list[str] = field(default_factory=list)
    #: Statements the operation queues that Django runs at the end of the migration.
    deferred_forward_sql: list[str] = field(default_factory=list)
    #: ``None`` when the reverse was not captured (see ``reason``).
    reverse_sql: list[str] | None = field(default_factory=list)
    deferred_reverse_sql: list[str] = field(default_factory=list)
    #: False for operations SQL cannot express (RunPython): their SQL files hold a marked comment.
    expressible: bool = True
    reversible: bool = True
    reason: str = ""
    #: What the operation changes, read from the model states (see risk/facts.py).
    facts: dict[str, Any] = field(default_factory=dict)
    #: False when the project's database routers do not allow the operation on the database it
    #: was captured on (``allow_migrate``): ``migrate`` runs no SQL for it there.
    allowed: bool = True

    @property
    def all_forward_sql(self) -> list[str]:
        return self.forward_sql + self.deferred_forward_sql

    @property
    def all_reverse_sql(self) -> list[str]:
        return (self.reverse_sql or []) + self.deferred_reverse_sql


@dataclass
class Bundle:
    app_label: str
    migration_name: str
    dependencies: list[list[str]]
    atomic: bool
    vendor: str
    server_version: str
    django_version: str
    created_at: str
    operations: list[OperationSQL]
    #: Whether the SQL files are wrapped in BEGIN/COMMIT (atomic migration, transactional DDL).
    transactional: bool = True
    #: For a squashed migration: the migrations it replaces, as [app, name].
    replaces: list[list[str]] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    #: The ``DATABASES`` alias the SQL was captured for (``--database``); routers decide per alias.
    database: str = "default"

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.migration_name}"

    @property
    def reversible(self) -> bool:
        return all(op.reversible and op.reverse_sql is not None for op in self.operations)

    @property
    def refused_operations(self) -> list[OperationSQL]:
        """Operations the routers do not allow on :attr:`database`: they run no SQL there."""
        return [op for op in self.operations if not op.allowed]

    @property
    def irreversible_reasons(self) -> list[str]:
        return [
            f"operation {op.index + 1} ({op.operation}): {op.reason}"
            for op in self.operations
            if not op.reversible or op.reverse_sql is None
        ]

    def statement_counts(self) -> tuple[int, int]:
        forward = sum(len(op.all_forward_sql) for op in self.operations)
        backward = sum(len(op.all_reverse_sql) for op in self.operations)
        return forward, backward

    def to_dict(self) -> dict[str, Any]:
        """The ``bundle.json`` document (operations name their ``class``, as the format says)."""
        data = asdict(self)
        data["reversible"] = self.reversible
        data["operations"] = [{"class": op.pop("operation"), **op} for op in data["operations"]]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bundle:
        data = dict(data)
        data.pop("reversible", None)
        data["operations"] = [
            OperationSQL(operation=op["class"], **{k: v for k, v in op.items() if k != "class"})
            for op in data["operations"]
        ]
        return cls(**data)


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def bundle_dir(root: Path, app_label: str, migration_name: str) -> Path:
    return Path(root) / app_label / migration_name


def _checks_file(bundle: Bundle, existing: Path | None) -> str:
    from .validation_checks import custom_part, derive, render

    previous = existing / "checks.sql" if existing else None
    custom = previous.read_text(encoding="utf-8") if previous and previous.exists() else ""
    return render(bundle, derive(bundle), custom_part(custom))


def render_files(
    bundle: Bundle, migration_source: bytes, report: Any = None, existing: Path | None = None
) -> dict[str, str]:
    """All files of the bundle, by name; fills ``bundle.hashes``."""
    from .render import render_down_sql, render_readme, render_up_sql

    files = {"up.sql": render_up_sql(bundle), "down.sql": render_down_sql(bundle)}
    bundle.hashes = {"migration": sha256(migration_source)}
    bundle.hashes.update({name: sha256(text) for name, text in files.items()})
    files["README.md"] = render_readme(bundle, report)
    files["checks.sql"] = _checks_file(bundle, existing)
    if report is not None:
        from .risk.report import report_json, rollback_plan

        files["report.json"] = report_json(report)
        files["rollback-plan.md"] = rollback_plan(bundle, report)
    files["bundle.json"] = json.dumps(bundle.to_dict(), indent=2, ensure_ascii=False) + "\n"
    return files


def write_bundle(bundle: Bundle, root: Path, migration_source: bytes, report: Any = None) -> Path:
    """Write the bundle under ``root`` atomically and return its directory.

    The files are written into a hidden staging directory beside the target, which then replaces
    the target in one rename, so a reader sees the old bundle or the new one, never a mix.
    """
    target = bundle_dir(root, bundle.app_label, bundle.migration_name)
    files = render_files(bundle, migration_source, report, existing=target)
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
