"""``makemigrations`` plus a bundle of each new migration's exact forward and reverse SQL."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.core.management.commands import makemigrations
from django.db import DEFAULT_DB_ALIAS

from ... import conf
from ...bundle.model import Bundle
from ...bundle.store import bundle_dir, ensure_writable, remove_bundle, unwritable_reason
from ...bundle.writer import write_bundle
from ...capture.plan import RecordingAutodetector, plan_new_migrations
from ...capture.routing import mark_refused
from ...capture.session import capture_migrations
from ...exceptions import BundleError, CaptureError, GraphError, ScratchError
from ...risk import inputs as risk_inputs
from ...risk.analysis import acknowledgements_of, analyse
from ...scratch.database import source_connection
from ..interrupts import InterruptibleCommand
from ..summaries import relative, write_summaries

USER_ERRORS = (ScratchError, CaptureError, BundleError, GraphError, risk_inputs.StatsError)


class Command(InterruptibleCommand, makemigrations.Command):
    help = (
        "Creates new migration(s) for apps, like makemigrations, and writes beside each one a "
        "bundle with the exact SQL that applying and reverting it runs."
    )
    autodetector = RecordingAutodetector

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The database whose server hosts the scratch database used to capture SQL "
            'and whose SQL dialect is captured. Defaults to the "default" database.',
        )
        parser.add_argument(
            "--no-cache",
            action="store_false",
            dest="use_cache",
            help="Build the scratch database from scratch instead of reusing a cached state.",
        )
        risk_inputs.add_arguments(parser)

    def handle(self, *app_labels: str, **options: Any) -> None:
        self.database = options["database"]
        self.verbosity = options["verbosity"]
        self.use_cache = options["use_cache"]
        self.check_changes = options["check_changes"]
        self.wrote_files = False
        RecordingAutodetector.last_from_state = None
        try:
            connection = source_connection(self.database)
            self.stats = risk_inputs.load(options, connection.vendor, warn=self._warn)
            if not (options["dry_run"] or self.check_changes):
                ensure_writable(conf.bundle_root())
            super().handle(*app_labels, **options)
        except USER_ERRORS as error:
            raise CommandError(str(error)) from None

    def _warn(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stderr.write(self.style.WARNING(f"Warning: {message}"))

    def written_on_interrupt(self) -> str:
        if getattr(self, "wrote_files", False):
            return "the migration files and their bundles had been written in full"
        return "nothing was written"

    def write_migration_files(
        self, changes: dict, update_previous_migration_paths: dict | None = None
    ) -> None:
        if self.check_changes:
            super().write_migration_files(changes, update_previous_migration_paths)
            return
        plan = plan_new_migrations(changes, update_previous_migration_paths)
        if not self.dry_run:
            _ensure_migrations_writable(plan.paths.values(), update_previous_migration_paths)
        bundles = capture_migrations(
            self.database,
            plan.loader,
            plan.migrations,
            base=plan.base,
            base_state=None
            if update_previous_migration_paths
            else RecordingAutodetector.last_from_state,
            sources=plan.sources,
            use_cache=self.use_cache,
            log=self.log if self.verbosity >= 2 else None,
        )
        for bundle, migration in zip(bundles, plan.migrations, strict=True):
            mark_refused(bundle, migration, self.database)
        reports = [
            analyse(bundle, self.stats, acknowledgements=acknowledgements_of(migration))
            for bundle, migration in zip(bundles, plan.migrations, strict=True)
        ]
        root = conf.bundle_root()
        entries = [
            (b, bundle_dir(root, b.app_label, b.migration_name), r)
            for b, r in zip(bundles, reports, strict=True)
        ]
        if self.dry_run:
            super().write_migration_files(changes, update_previous_migration_paths)
        else:
            self._write_together(
                changes, update_previous_migration_paths, plan.paths, bundles, reports
            )
            self.wrote_files = True
        write_summaries(self.log, self.style, self.verbosity, entries, written=not self.dry_run)
        if self.empty and not self.dry_run and self.verbosity >= 1:
            self._next_steps_for_empty(plan.paths)

    def _next_steps_for_empty(self, paths: dict) -> None:
        """An empty migration's bundle has no SQL yet: say how to get it."""
        self.log(self.style.MIGRATE_HEADING("Next:"))
        for (app_label, name), path in paths.items():
            self.log(
                f"  Add operations to {relative(path)}, then capture their SQL with "
                f"'python manage.py bundlemigration {app_label} {name}' (its bundle is empty "
                "until then, and validatemigration reports it stale once the file changes)."
            )

    def _write_together(
        self,
        changes: dict,
        update_paths: dict | None,
        paths: dict,
        bundles: list[Bundle],
        reports: list,
    ) -> None:
        """Write the migration files and their bundles, all or nothing."""
        root = conf.bundle_root()
        replaced = {app: Path(p) for app, p in (update_paths or {}).items()}
        replaced_content = {app: path.read_bytes() for app, path in replaced.items()}
        new_dirs = [d for d in {p.parent for p in paths.values()} if not d.exists()]
        written: list[Bundle] = []
        try:
            super().write_migration_files(changes, update_paths)
            for bundle, report in zip(bundles, reports, strict=True):
                path = paths[(bundle.app_label, bundle.migration_name)]
                write_bundle(bundle, root, path.read_bytes(), report)
                written.append(bundle)
        except BaseException as error:
            for path in self.written_files:
                Path(path).unlink(missing_ok=True)
            for bundle in written:
                remove_bundle(root, bundle.app_label, bundle.migration_name)
            for app, path in replaced.items():
                path.write_bytes(replaced_content[app])
            for directory in new_dirs:
                shutil.rmtree(directory, ignore_errors=True)
            if isinstance(error, OSError):
                where = f" {error.filename}" if error.filename else ""
                raise BundleError(
                    f"Cannot write{where}: {error.strerror}; nothing was written."
                ) from None
            raise
        for app, path in replaced.items():
            if not path.exists():  # Django keeps the old file when it needs manual porting
                remove_bundle(root, app, path.stem)


def _ensure_migrations_writable(paths: Any, replaced: dict | None) -> None:
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
