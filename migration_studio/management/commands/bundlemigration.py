"""Bundle migrations that already exist (for projects adopting migration_studio)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS
from django.db.migrations.loader import AmbiguityError, MigrationLoader

from ... import conf
from ...bundle import bundle_dir, bundle_problem, ensure_writable, write_bundle
from ...capture import capture_migrations
from ...graph import ancestors, graph_order, migration_source
from ...reporting import write_summaries
from ...risk import inputs as risk_inputs
from ...risk.analysis import acknowledgements_of, analyse
from ...scratch import source_connection
from .makesafemigration import USER_ERRORS


class Command(BaseCommand):
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
        try:
            apps.get_app_config(app_label)
        except LookupError as error:
            raise CommandError(str(error)) from None
        loader = MigrationLoader(None, ignore_no_migrations=True)
        if app_label not in loader.migrated_apps:
            raise CommandError(f"App '{app_label}' does not have migrations.")
        root = conf.bundle_root()
        nodes = [node for node in graph_order(loader) if node[0] == app_label]
        if options["migration_name"]:
            nodes = [self._find(loader, app_label, options["migration_name"])]
        else:
            nodes = [n for n in nodes if bundle_problem(bundle_dir(root, *n))]  # unreadable too
            if not nodes:
                if options["verbosity"] >= 1:
                    self.stdout.write(f"Every migration of '{app_label}' has a bundle.")
                return
        migrations = [loader.graph.nodes[node] for node in nodes]
        try:
            stats = risk_inputs.load(options)
            source_connection(options["database"])
            if not options["dry_run"]:
                ensure_writable(root)
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
                path = bundle_dir(root, bundle.app_label, bundle.migration_name)
                report = analyse(bundle, stats, acknowledgements=acknowledgements_of(migration))
                if not options["dry_run"]:
                    write_bundle(bundle, root, migration_source(migration), report)
                entries.append((bundle, path, report))
        except USER_ERRORS as error:
            raise CommandError(str(error)) from None
        write_summaries(
            self.stdout.write,
            self.style,
            options["verbosity"],
            entries,
            written=not options["dry_run"],
        )

    def _find(self, loader: MigrationLoader, app_label: str, name: str) -> tuple[str, str]:
        try:
            migration = loader.get_migration_by_prefix(app_label, name)
        except AmbiguityError:
            raise CommandError(
                f"More than one migration matches '{name}' in app '{app_label}'. "
                "Please be more specific."
            ) from None
        except KeyError:
            raise CommandError(
                f"Cannot find a migration matching '{name}' from app '{app_label}'."
            ) from None
        return (migration.app_label, migration.name)
