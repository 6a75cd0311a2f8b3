"""Prove bundles on a scratch database: up, checks, down, schema restored, up again."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.utils import ConnectionDoesNotExist

from ... import conf, services
from ...capture.graph import History
from ...exceptions import BundleError, MigrationStudioError, RecordsUnavailable
from ...scratch.database import source_connection
from ...validation.records import prune_records
from ...validation.result import INTERRUPTED, PASSED, SKIPPED, Step, ValidationResult
from ..base import StudioCommand
from ..options import add_database, add_no_cache

#: Exit codes: 0 every bundle passed, 1 one failed validation, 2 usage or environment error
#: (system check errors and unexpected errors too), 130 interrupted.
EXIT_FAILED = 1
EXIT_ERROR = 2


class Command(StudioCommand, BaseCommand):
    help = (
        "Validates bundles on a scratch database: applies up.sql (with optional sample data), "
        "runs the checks, applies down.sql, compares the schema with the parent state and "
        "applies up.sql again. Without arguments, every bundle not yet validated as it is."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("app_label", nargs="?", help="Only the bundles of this app.")
        parser.add_argument(
            "migration_name",
            nargs="?",
            help="Only this migration's bundle (a unique prefix is enough).",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="all_bundles",
            help="Validate again bundles that already passed.",
        )
        add_database(
            parser,
            help="The database whose server hosts the scratch database. "
            'Defaults to the "default" database.',
        )
        parser.add_argument(
            "--sample-from",
            metavar="ALIAS",
            help="Copy sample rows from this database (read-only) first.",
        )
        parser.add_argument(
            "--sample-rows",
            type=int,
            default=1000,
            metavar="N",
            help="Rows per table to copy with --sample-from (default 1000).",
        )
        add_no_cache(parser)

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except Exception:
            # Not a result (1 is "a bundle failed"): an error the validation does not know, such
            # as a lost connection; its traceback shows where.
            traceback.print_exc()
            sys.exit(EXIT_ERROR)

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        self.finished = 0
        try:
            self._handle(options)
        except (CommandError, MigrationStudioError) as error:
            # Usage and environment errors exit with 2 (1 means "a bundle failed").
            self.stderr.write(f"CommandError: {error}")
            sys.exit(EXIT_ERROR)

    def written_on_interrupt(self) -> str:
        finished = getattr(self, "finished", 0)
        if not finished:
            return "no validation result was written"
        return (
            f"the {finished} bundle(s) validated before keep their results, the bundle being "
            "validated has no new result"
        )

    def _handle(self, options: dict[str, Any]) -> None:
        source_connection(options["database"])
        try:
            if options["sample_from"]:
                connections[options["sample_from"]]
        except ConnectionDoesNotExist:
            raise CommandError(
                f"There is no database '{options['sample_from']}' in DATABASES."
            ) from None
        if options["sample_rows"] < 0:
            raise CommandError("--sample-rows must be zero or more.")
        try:
            prune_records(conf.bundle_root())
        except RecordsUnavailable as why:
            if self.verbosity >= 1:
                self.stderr.write(self.style.WARNING(f"Records not updated: {why}."))
        paths = services.select_bundles(
            options["app_label"], options["migration_name"], all_bundles=options["all_bundles"]
        )
        if not paths:
            if self.verbosity >= 1:
                self.stdout.write("No bundle to validate.")
            return
        self.history = History()
        failed = 0
        for path in paths:
            failed += not self._validate(path, options)
        if failed:
            sys.exit(EXIT_FAILED)

    def _validate(self, path: Path, options: dict[str, Any]) -> bool:
        label = f"{path.parent.name}.{path.name}"
        if self.verbosity >= 1:
            self.stdout.write(self.style.MIGRATE_HEADING(f"Validating {label}:"))
        try:
            result, not_recorded = services.validate_bundle(
                path,
                options["database"],
                sample_from=options["sample_from"],
                sample_rows=options["sample_rows"],
                use_cache=options["use_cache"],
                log=self._log_step,
                history=self.history,
            )
        except BundleError as error:
            # An unreadable bundle fails alone: the other bundles are still validated.
            self.stdout.write(self.style.ERROR(f"  {label}: FAILED (unreadable bundle)"))
            self.stderr.write(
                f"{error} Write it again with: manage.py bundlemigration {path.parent.name} "
                f"{path.name}"
            )
            return False
        self.finished += 1
        if not_recorded and self.verbosity >= 1:
            self.stderr.write(self.style.WARNING(f"  Not recorded: {not_recorded}."))
        if result.status == PASSED:
            if self.verbosity >= 1:
                self.stdout.write(self.style.SUCCESS(f"  {label}: {_verdict(result)}"))
            return True
        self.stdout.write(self.style.ERROR(f"  {label}: FAILED"))
        self.stderr.write(result.error)
        return False

    def _log_step(self, step: Step) -> None:
        if self.verbosity < 1:
            return
        # Only a step that ran to its end says "ok"; any other status says what happened.
        mark = {
            PASSED: self.style.SUCCESS("ok    "),
            SKIPPED: self.style.WARNING("skip  "),
            INTERRUPTED: self.style.ERROR("INTERRUPTED"),
        }.get(step.status, self.style.ERROR("FAILED"))
        detail = step.detail.splitlines()[0] if step.detail else ""
        self.stdout.write(
            f"  {step.name:<10} {mark} {step.seconds * 1000:8.0f} ms  {detail}".rstrip()
        )
        if self.verbosity >= 2:
            for run in step.statements:
                locks = ", ".join(f"{lock['relation']}:{lock['mode']}" for lock in run.locks)
                self.stdout.write(
                    f"      {run.seconds * 1000:7.1f} ms  {run.sql[:90]}"
                    + (f"  [{locks}]" if locks else "")
                )
        if step.status == PASSED:
            # A passed step's further lines are warnings (a failed step's reason comes at the end).
            for line in step.detail.splitlines()[1:]:
                self.stdout.write(self.style.WARNING(f"    warning: {line}"))


def _verdict(result: ValidationResult) -> str:
    """What a passed validation proved: all of it, or the deploy only (irreversible)."""
    down = next((step for step in result.steps if step.name == "down"), None)
    if down is not None and down.status == SKIPPED:
        return "passed (up.sql proven; rollback not applicable: the migration is irreversible)"
    return "passed"
