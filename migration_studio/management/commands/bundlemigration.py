"""Bundle existing migrations: capture their exact SQL, analyse it, write the bundles."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from ... import conf, services
from ...bundle.store import ensure_writable
from ...capture.graph import History, ancestors
from ...risk import inputs as risk_inputs
from ...scratch.database import source_connection
from ..base import StudioCommand
from ..options import add_database, add_no_cache
from ..summaries import write_summaries


class Command(StudioCommand, BaseCommand):
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
        add_database(parser)
        add_no_cache(parser)
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
        groups = services.migrations_to_bundle(history, app_label, options["migration_name"])
        if not groups:
            if self.verbosity >= 1:
                self.stdout.write(f"Every migration of '{app_label}' has a bundle.")
            return
        connection = source_connection(options["database"])
        stats = risk_inputs.load(options, connection.vendor, warn=self.warn)
        if not options["dry_run"]:
            ensure_writable(conf.bundle_root())
        entries = []
        for loader, nodes in groups:
            entries += services.bundle_migrations(
                options["database"],
                loader,
                [loader.graph.nodes[node] for node in nodes],
                stats=stats,
                base=ancestors(loader, nodes[0]),
                use_cache=options["use_cache"],
                write=not options["dry_run"],
                log=self.stdout.write if self.verbosity >= 2 else None,
                on_written=self._written,
                warn=self.warn,
            )
        write_summaries(
            self.stdout.write, self.style, self.verbosity, entries, written=not options["dry_run"]
        )

    def _written(self, entry: services.Entry) -> None:
        self.written += 1

    def written_on_interrupt(self) -> str:
        written = getattr(self, "written", 0)
        if not written:
            return "nothing was written"
        return f"{written} bundle(s) had been written in full, the others were not written"
