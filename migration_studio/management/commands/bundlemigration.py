"""Bundle migrations that already exist (for projects adopting migration_studio)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.loader import MigrationLoader

from ... import conf
from ...bundle.store import bundle_dir, bundle_problem, ensure_writable
from ...bundle.writer import write_bundle
from ...capture.graph import History, Node, ancestors, graph_order, migration_source
from ...capture.routing import mark_refused
from ...capture.session import capture_migrations
from ...risk import inputs as risk_inputs
from ...risk.analysis import acknowledgements_of, analyse
from ...scratch.database import source_connection
from ..interrupts import InterruptibleCommand
from ..summaries import write_summaries
from .makesafemigration import USER_ERRORS


class Command(InterruptibleCommand, BaseCommand):
    help = (
        "Writes the bundle (exact forward and reverse SQL) of an existing migration, or of every "
        "migration of an app that has no bundle yet."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("app_label", help="App label of the application to bundle.")
        parser.add_argument(
            "migration_name",
            nargs="?",
            help="Migration to (re)bundle, or a unique prefix of its name. Without it, every "
            "migration of the app that has no bundle yet.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The database whose server hosts the scratch database and whose SQL dialect is "
            'captured. Defaults to the "default" database.',
        )
        parser.add_argument(
            "--no-cache",
            action="store_false",
            dest="use_cache",
            help="Do not reuse a cached scratch database state.",
        )
        risk_inputs.add_arguments(parser)
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Capture and show the bundles without writing them.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        app_label = options["app_label"]
        self.verbosity = options["verbosity"]
        self.written = 0
        try:
            apps.get_app_config(app_label)
        except LookupError as error:
            raise CommandError(str(error)) from None
        history = History()
        if app_label not in history.squashed.migrated_apps:
            raise CommandError(f"App '{app_label}' does not have migrations.")
        root = conf.bundle_root()
        if options["migration_name"]:
            node = self._find(history, app_label, options["migration_name"])
            groups = [(history.loader_for(node), [node])]
        else:
            # The squashed graph first (what a new database runs), then the migrations a squash
            # replaces (what a database with part of them applied runs).
            groups = [
                (history.squashed, [n for n in graph_order(history.squashed) if n[0] == app_label]),
                (history.unsquashed, history.replaced(app_label)),
            ]
            groups = [
                # Missing bundles, and bundles whose bundle.json cannot be read.
                (loader, [n for n in nodes if bundle_problem(bundle_dir(root, *n))])
                for loader, nodes in groups
            ]
            groups = [(loader, nodes) for loader, nodes in groups if nodes]
            if not groups:
                if options["verbosity"] >= 1:
                    self.stdout.write(f"Every migration of '{app_label}' has a bundle.")
                return
        try:
            connection = source_connection(options["database"])
            stats = risk_inputs.load(options, connection.vendor, warn=self._warn)
            if not options["dry_run"]:
                ensure_writable(root)
            entries = []
            for loader, nodes in groups:
                entries += self._bundle(loader, nodes, stats, root, options)
        except USER_ERRORS as error:
            raise CommandError(str(error)) from None
        write_summaries(
            self.stdout.write,
            self.style,
            options["verbosity"],
            entries,
            written=not options["dry_run"],
        )

    def _bundle(
        self,
        loader: MigrationLoader,
        nodes: list[Node],
        stats: Any,
        root: Path,
        options: dict[str, Any],
    ) -> list[tuple]:
        """Capture ``nodes`` of the graph on one scratch database; write their bundles."""
        migrations = [loader.graph.nodes[node] for node in nodes]
        bundles = capture_migrations(
            options["database"],
            loader,
            migrations,
            base=ancestors(loader, nodes[0]),
            use_cache=options["use_cache"],
            log=self.stdout.write if options["verbosity"] >= 2 else None,
        )
        entries = []
        for bundle, migration in zip(bundles, migrations, strict=True):
            mark_refused(bundle, migration, options["database"])
            path = bundle_dir(root, bundle.app_label, bundle.migration_name)
            report = analyse(bundle, stats, acknowledgements=acknowledgements_of(migration))
            if not options["dry_run"]:
                write_bundle(bundle, root, migration_source(migration), report)
                self.written += 1
            entries.append((bundle, path, report))
        return entries

    def _warn(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stderr.write(self.style.WARNING(f"Warning: {message}"))

    def written_on_interrupt(self) -> str:
        written = getattr(self, "written", 0)
        if not written:
            return "nothing was written"
        return f"{written} bundle(s) had been written in full, the others were not written"

    def _find(self, history: History, app_label: str, name: str) -> Node:
        """The migration ``name`` (or a unique prefix) of ``app_label``, replaced ones included."""
        try:
            migration = history.squashed.get_migration_by_prefix(app_label, name)
        except AmbiguityError:
            raise CommandError(
                f"More than one migration matches '{name}' in app '{app_label}'. "
                "Please be more specific."
            ) from None
        except KeyError:
            raise CommandError(
                f"Cannot find a migration matching '{name}' from app '{app_label}'."
            ) from None
        node = (migration.app_label, migration.name)
        if history.loader_for(node) is None:
            raise CommandError(
                f"Migration {app_label}.{migration.name} is not part of the migration graph "
                "(its squashed migration's other replaced migrations are missing)."
            )
        return node
