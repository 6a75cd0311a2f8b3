"""What the commands (and later the admin and the release gate) call: each function is one job of
the product, from options to results, with no terminal output of its own.

- :func:`bundle_migrations`: capture migrations on a scratch database, analyse them, write their
  bundles (or not, for a dry run).
- :func:`write_with_migrations`: write new migration files and their bundles, all or nothing.
- :func:`migrations_to_bundle` and :func:`find_migration`: which migrations of an app to bundle.
- :func:`select_bundles`: which bundles to validate.
- :func:`validate_bundle`: validate one bundle, write its validation.json and record the run.

Errors meant for the user are :class:`~migration_studio.exceptions.MigrationStudioError`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.migrations import Migration
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from . import conf
from .bundle.model import Bundle
from .bundle.store import bundle_dir, bundle_problem, remove_bundle, unwritable_reason
from .bundle.writer import write_bundle
from .capture.graph import History, Node, graph_order, migration_source
from .capture.routing import mark_refused
from .capture.session import capture_migrations
from .exceptions import BundleError, RecordsUnavailable, SelectionError
from .risk.analysis import Report, acknowledgements_of, analyse, unknown_acknowledgements
from .risk.stats import Stats
from .validation.records import bundle_paths, has_passed, record_validation
from .validation.result import Step, ValidationResult, content_hash, write_result
from .validation.validator import Validator


@dataclass
class Entry:
    """A captured and analysed migration, and where its bundle is (or would be) written."""

    bundle: Bundle
    path: Path
    report: Report


def bundle_migrations(
    database: str,
    loader: MigrationLoader,
    migrations: list[Migration],
    *,
    stats: Stats,
    base: set[Node],
    base_state: ProjectState | None = None,
    sources: dict[Node, bytes] | None = None,
    use_cache: bool = True,
    write: bool = False,
    root: Path | None = None,
    log: Callable[[str], None] | None = None,
    on_written: Callable[[Entry], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Entry]:
    """Capture ``migrations`` (in graph order) on one scratch database and analyse them.

    With ``write``, each bundle is written under ``root`` as soon as it is analysed (the migration
    files must be on disk: their hash goes into the bundle) and ``on_written`` hears of it.
    ``warn`` hears what the user should fix that does not stop the run (an acknowledged rule id
    that no rule has).
    """
    root = Path(root) if root is not None else conf.bundle_root()
    bundles = capture_migrations(
        database,
        loader,
        migrations,
        base=base,
        base_state=base_state,
        sources=sources,
        use_cache=use_cache,
        log=log,
    )
    entries = []
    for bundle, migration in zip(bundles, migrations, strict=True):
        mark_refused(bundle, migration, database)
        acknowledgements = acknowledgements_of(migration)
        unknown = unknown_acknowledgements(acknowledgements)
        if unknown and warn:
            warn(
                f"{bundle.label} acknowledges {', '.join(unknown)} in "
                "migration_studio_acknowledge, which no rule has: nothing is acknowledged by it "
                "(a typo?)."
            )
        report = analyse(bundle, stats, acknowledgements=acknowledgements)
        entry = Entry(bundle, bundle_dir(root, bundle.app_label, bundle.migration_name), report)
        if write:
            write_bundle(bundle, root, migration_source(migration), report)
            if on_written:
                on_written(entry)
        entries.append(entry)
    return entries


def write_with_migrations(
    entries: list[Entry],
    paths: dict[Node, Path],
    write_migrations: Callable[[], None],
    written_migrations: Callable[[], Iterable[str]],
    replaced: dict[str, str] | None = None,
    root: Path | None = None,
) -> None:
    """Write new migration files (``write_migrations``, e.g. makemigrations' own writer) and the
    bundle of each, all or nothing: on any failure the files written so far
    (``written_migrations()``) and the bundles are removed, and the migrations that
    ``makemigrations --update`` replaced (``replaced``: app label -> path) are put back.
    """
    root = Path(root) if root is not None else conf.bundle_root()
    replaced_paths = {app: Path(p) for app, p in (replaced or {}).items()}
    replaced_content = {app: path.read_bytes() for app, path in replaced_paths.items()}
    new_dirs = [d for d in {p.parent for p in paths.values()} if not d.exists()]
    written: list[Bundle] = []
    try:
        write_migrations()
        for entry in entries:
            bundle = entry.bundle
            path = paths[(bundle.app_label, bundle.migration_name)]
            write_bundle(bundle, root, path.read_bytes(), entry.report)
            written.append(bundle)
    except BaseException as error:
        for path in written_migrations():
            Path(path).unlink(missing_ok=True)
        for bundle in written:
            remove_bundle(root, bundle.app_label, bundle.migration_name)
        for app, path in replaced_paths.items():
            path.write_bytes(replaced_content[app])
        for directory in new_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        if isinstance(error, OSError):
            where = f" {error.filename}" if error.filename else ""
            raise BundleError(
                f"Cannot write{where}: {error.strerror}; nothing was written."
            ) from None
        raise
    for app, path in replaced_paths.items():
        if not path.exists():  # Django keeps the old file when it needs manual porting
            remove_bundle(root, app, path.stem)


def ensure_migrations_writable(paths: Iterable[Path], replaced: dict[str, Any] | None) -> None:
    """Fail before the capture, with one sentence, when a migration file cannot be written."""
    for path in [*paths, *(replaced or {}).values()]:
        path = Path(path)
        problem = unwritable_reason(path.parent)
        if problem is None and path.exists() and not os.access(path, os.W_OK):
            problem = "the file is read-only"
        if problem:
            raise BundleError(
                f"Cannot write the migration file {path} ({problem}); nothing was written."
            )


def find_migration(history: History, app_label: str, name: str) -> Node:
    """The migration ``name`` (or a unique prefix) of ``app_label``, replaced ones included."""
    try:
        migration = history.squashed.get_migration_by_prefix(app_label, name)
    except AmbiguityError:
        raise SelectionError(
            f"More than one migration matches '{name}' in app '{app_label}'. "
            "Please be more specific."
        ) from None
    except KeyError:
        raise SelectionError(
            f"Cannot find a migration matching '{name}' from app '{app_label}'."
        ) from None
    node = (migration.app_label, migration.name)
    if history.loader_for(node) is None:
        raise SelectionError(
            f"Migration {app_label}.{migration.name} is not part of the migration graph "
            "(its squashed migration's other replaced migrations are missing)."
        )
    return node


def migrations_to_bundle(
    history: History, app_label: str, migration_name: str | None, root: Path | None = None
) -> list[tuple[MigrationLoader, list[Node]]]:
    """The migrations ``bundlemigration`` captures, each group on the graph it belongs to.

    One named migration (a unique prefix is enough), or every migration of the app whose bundle
    is missing or unreadable: the squashed graph first (what a new database runs), then the
    migrations a squash replaces (what a database with part of them applied runs).
    """
    if app_label not in history.squashed.migrated_apps:
        raise SelectionError(f"App '{app_label}' does not have migrations.")
    if migration_name:
        node = find_migration(history, app_label, migration_name)
        return [(history.loader_for(node), [node])]
    root = Path(root) if root is not None else conf.bundle_root()
    groups = [
        (history.squashed, [n for n in graph_order(history.squashed) if n[0] == app_label]),
        (history.unsquashed, history.replaced(app_label)),
    ]
    groups = [
        (loader, [n for n in nodes if bundle_problem(bundle_dir(root, *n))])
        for loader, nodes in groups
    ]
    return [(loader, nodes) for loader, nodes in groups if nodes]


def select_bundles(
    app_label: str | None = None,
    migration_name: str | None = None,
    *,
    all_bundles: bool = False,
    root: Path | None = None,
) -> list[Path]:
    """The bundle directories to validate.

    Without ``all_bundles``, only those not yet validated as they are now (a changed bundle is
    validated again). ``migration_name`` (with ``app_label``) names one bundle; a unique prefix
    is enough.
    """
    root = Path(root) if root is not None else conf.bundle_root()
    paths = bundle_paths(root)
    if app_label:
        paths = [p for p in paths if p.parent.name == app_label]
        if migration_name:
            return [_one_bundle(root, paths, app_label, migration_name)]
        if not paths:
            raise SelectionError(f"There is no bundle for app '{app_label}' in {root}.")
    if all_bundles:
        return paths
    return [p for p in paths if not has_passed(p, content_hash(p))]


def _one_bundle(root: Path, paths: list[Path], app_label: str, name: str) -> Path:
    exact = bundle_dir(root, app_label, name)
    if exact in paths:
        return exact
    matches = [p for p in paths if p.name.startswith(name)]
    if len(matches) != 1:
        raise SelectionError(
            f"No bundle of {app_label} matches '{name}'."
            if not matches
            else f"More than one bundle of {app_label} matches '{name}'; be more specific."
        )
    return matches[0]


def validate_bundle(
    path: Path,
    database: str,
    *,
    sample_from: str | None = None,
    sample_rows: int = 0,
    use_cache: bool = True,
    log: Callable[[Step], None] | None = None,
    history: History | None = None,
) -> tuple[ValidationResult, str | None]:
    """Validate the bundle in ``path`` on a scratch database of ``database``'s server, write its
    ``validation.json`` and record the run: the result, and why it was not recorded (or None).

    Raises :class:`~migration_studio.exceptions.BundleError` when the bundle cannot be read.
    """
    validator = Validator(
        path,
        database,
        sample_from=sample_from,
        sample_rows=sample_rows,
        use_cache=use_cache,
        log=log,
        history=history,
    )
    result = validator.run()
    write_result(path, result)
    try:
        record_validation(path, result)
    except RecordsUnavailable as why:
        return result, str(why)
    return result, None
