"""``makemigrations`` plus a bundle of each new migration's exact forward and reverse SQL."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import CommandError
from django.core.management.commands import makemigrations

from ... import conf, services
from ...bundle.store import ensure_writable
from ...capture.plan import RecordingAutodetector, plan_new_migrations
from ...exceptions import MigrationStudioError
from ...files import write_text_atomic
from ...rewrites import backup, fixable, renames, safe
from ...rewrites.backfill import load, render_data
from ...rewrites.expand import Split, planned_paths, split
from ...rewrites.questions import PlanningAutodetector
from ...risk import inputs as risk_inputs
from ...scratch.database import source_connection
from ..base import StudioCommand
from ..options import add_database, add_no_cache
from ..summaries import relative, write_summaries


class Command(StudioCommand, makemigrations.Command):
    help = (
        "Creates new migration(s) for apps, like makemigrations, and writes beside each one a "
        "bundle with the exact SQL that applying and reverting it runs."
    )
    autodetector = PlanningAutodetector

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        add_database(parser)
        add_no_cache(parser)
        risk_inputs.add_arguments(parser)
        parser.add_argument(
            "--safe",
            action="store_true",
            default=None,
            help="Write the safe version of what has one: a renamed field or model keeps its "
            "column or table (db_column / db_table added to the model's source), and on "
            "PostgreSQL index builds and drops on existing tables run CONCURRENTLY in migrations "
            "of their own. Default: MIGRATION_STUDIO['SAFE_REWRITES'].",
        )
        parser.add_argument(
            "--backup",
            action="store_true",
            default=None,
            help="Before a column is dropped, copy its values into a backup table, so rolling "
            "the migration back restores them. Default: on for tables the table sizes "
            "(--stats-from, --stats-file) say have rows.",
        )
        parser.add_argument(
            "--data",
            action="append",
            dest="data_models",
            metavar="MODEL",
            default=[],
            help="Write a data migration for MODEL of the app (repeat for more models), "
            "pre-filled with the code that changes its rows in short batches, like --empty "
            "writes an empty one.",
        )

    def handle(self, *app_labels: str, **options: Any) -> None:
        self.database = options["database"]
        self.verbosity = options["verbosity"]
        self.use_cache = options["use_cache"]
        self.check_changes = options["check_changes"]
        self.wrote_files = False
        self.data_models = self._data_models(app_labels, options)
        RecordingAutodetector.last_from_state = None
        connection = self.source = source_connection(self.database)
        self.safe = bool(conf.get("SAFE_REWRITES") if options["safe"] is None else options["safe"])
        self.safe_notice = ""
        self.backup = options["backup"]
        if self.safe and connection.vendor not in safe.VENDORS:
            self.safe_notice = (
                f"--safe on {connection.vendor}: the rewrites that avoid locks (CREATE INDEX "
                "CONCURRENTLY, constraints added NOT VALID ...) are PostgreSQL's and are not "
                "made; renamed fields and models still keep their column or table names."
            )
        self.stats = risk_inputs.load(options, connection.vendor, warn=self.warn)
        if not (options["dry_run"] or self.check_changes):
            ensure_writable(conf.bundle_root())
        super().handle(*app_labels, **options)

    def _data_models(self, app_labels: tuple[str, ...], options: dict[str, Any]) -> list[str]:
        """``--data``: the models named, checked; the run becomes an --empty one."""
        names = options["data_models"]
        if not names:
            return []
        if len(app_labels) != 1:
            raise CommandError("--data needs exactly one app label: the app of the models.")
        try:
            app = apps.get_app_config(app_labels[0])
        except LookupError:
            return []  # makemigrations says the app is unknown (exit status 2)
        found = []
        for name in names:
            try:
                found.append(app.get_model(name)._meta.model_name)
            except LookupError:
                raise CommandError(f"App '{app.label}' has no model '{name}'.") from None
        options["empty"] = True
        options["name"] = options["name"] or "data_" + "_".join(found)
        return found

    def written_on_interrupt(self) -> str:
        if getattr(self, "wrote_files", False):
            return "the migration files and their bundles had been written in full"
        return "nothing was written"

    def write_migration_files(
        self, changes: dict, update_previous_migration_paths: dict | None = None
    ) -> None:
        if self.safe_notice and self.verbosity >= 1:
            self.log(self.safe_notice)
        made = backup.protect(
            changes,
            RecordingAutodetector.last_from_state,
            self.source.vendor,
            lambda table: (
                self.backup or (self.backup is None and (self.stats.rows(table) or 0) > 0)
            ),
            later=self.safe and self.source.vendor in safe.VENDORS,
        )
        if made and self.verbosity >= 1:
            self.log(
                f"Backups: dropped column values are copied first into {', '.join(made)}; "
                "rolling back restores them."
            )
        kept_names = (
            renames.plan(changes, RecordingAutodetector.last_from_state)
            if self.safe
            else renames.Renames()
        )
        if self.verbosity >= 1:
            for sentence in kept_names.plain:
                self.log(sentence)
        planned = split(
            changes,
            safe.safe_stager(RecordingAutodetector.last_from_state, self.source, kept_names)
            if self.safe
            else None,
        )
        if update_previous_migration_paths and planned.sources:
            last = ", ".join(relative(path) for path in update_previous_migration_paths.values())
            raise CommandError(
                f"--update cannot turn the last migration ({last}) into several (an expand / "
                "backfill / contract plan, or makesafemigration --safe's rewrites); nothing was "
                "written: run the command without --update, for a new migration after it."
            )
        changes = planned.changes
        if self.data_models:
            self._data_stubs(planned)
        # Django's writer writes the migrations it can serialize; the plan's are written here.
        django_changes = {
            app: kept
            for app, migrations in changes.items()
            if (kept := [m for m in migrations if (app, m.name) not in planned.sources])
        }
        if self.check_changes:
            super().write_migration_files(django_changes, update_previous_migration_paths)
            self._write_plan(planned, planned_paths(planned))
            self._keep_names(kept_names, edit=False)
            return
        # Read before the capture, which moves the autodetector's state on.
        would_rewrite = (
            fixable.would_rewrite(
                changes, RecordingAutodetector.last_from_state, self.source.vendor
            )
            if not self.safe
            else []
        )
        plan = plan_new_migrations(changes, update_previous_migration_paths, planned.sources)
        if not self.dry_run:
            services.ensure_migrations_writable(
                plan.paths.values(), update_previous_migration_paths
            )
        entries = services.bundle_migrations(
            self.database,
            plan.loader,
            plan.migrations,
            stats=self.stats,
            base=plan.base,
            base_state=None
            if update_previous_migration_paths
            else RecordingAutodetector.last_from_state,
            sources=plan.sources,
            use_cache=self.use_cache,
            log=self.log if self.verbosity >= 2 else None,
            warn=self.warn,
        )
        for entry in entries:
            node = (entry.bundle.app_label, entry.bundle.migration_name)
            fixable.mark_fixable(
                entry.report.findings,
                [r for r in would_rewrite if (r.app_label, r.migration) == node],
            )
        if self.dry_run:
            super().write_migration_files(django_changes, update_previous_migration_paths)
            self._write_plan(planned, plan.paths)
        else:

            def write() -> None:
                super(Command, self).write_migration_files(
                    django_changes, update_previous_migration_paths
                )
                self._write_plan(planned, plan.paths)

            services.write_with_migrations(
                entries,
                plan.paths,
                write,
                lambda: self.written_files,
                update_previous_migration_paths,
            )
            self.wrote_files = True
        self._keep_names(kept_names, edit=not self.dry_run)
        write_summaries(self.log, self.style, self.verbosity, entries, written=not self.dry_run)
        if would_rewrite and self.verbosity >= 1:
            self.log(self.style.MIGRATE_HEADING("With --safe:"))
            for rewrite in would_rewrite:
                self.log(f"  {rewrite.text}")
        if self.empty and not self.data_models and not self.dry_run and self.verbosity >= 1:
            self._next_steps_for_empty(plan.paths)

    def _keep_names(self, kept_names: renames.Renames, edit: bool) -> None:
        """Edit the models' files so they keep the database names the renames kept (or, when
        ``edit`` is false, say what would be edited)."""
        if not kept_names.kept:
            return
        if edit:
            try:
                renames.apply(kept_names)
            except MigrationStudioError as error:
                added = "; ".join(f"{kept.added} for the {kept.what}" for kept in kept_names.kept)
                raise CommandError(
                    f"The migrations are written, but the models could not be edited ({error}); "
                    f"add by hand: {added}."
                ) from None
        if self.verbosity < 1:
            return
        for kept in kept_names.kept:
            where = f"{relative(kept.path)}:{kept.line}"
            done = ("added" if edit else "would add") + f" {kept.added} to {where}"
            self.log(
                f"Kept the {kept.what}: {done} (the rename costs no SQL; old code keeps working)"
            )

    def _data_stubs(self, planned: Split) -> None:
        """``--data``: each empty migration becomes the data migration of the models named."""
        for app_label, migrations in planned.changes.items():
            for index, migration in enumerate(migrations):
                node = (app_label, migration.name)
                source = render_data(
                    app_label, migration.name, list(migration.dependencies), self.data_models
                )
                migrations[index] = load(app_label, migration.name, source)
                planned.sources[node] = source
                planned.stubs.add(node)

    def _write_plan(self, planned: Split, paths: dict) -> None:
        """The migrations of an expand / backfill / contract plan, listed as Django lists the
        ones it writes (after them)."""
        by_app: dict[str, list] = {}
        for app_label, migrations in planned.changes.items():
            for migration in migrations:
                if (app_label, migration.name) in planned.sources:
                    by_app.setdefault(app_label, []).append(migration)
        for app_label, migrations in by_app.items():
            if self.verbosity >= 1:
                self.log(self.style.MIGRATE_HEADING(self._plan_heading(planned, app_label)))
            for migration in migrations:
                node = (app_label, migration.name)
                path, source = paths[node], planned.sources[node]
                if self.verbosity >= 1:
                    self.log(f"  {self.style.MIGRATE_LABEL(relative(path))}")
                    if node in planned.stubs:
                        self.log("    " + source.splitlines()[0].strip('"'))
                        self.log(
                            "    Decide the rows and the change (its pending_*() and change_*())"
                            " before deploying it."
                            if self.data_models
                            else "    Decide the value in its new_value() before deploying it."
                        )
                    else:
                        for operation in migration.operations:
                            self.log(f"    {operation.formatted_description()}")
                if self.dry_run:
                    if self.verbosity >= 3:
                        self.log(source)
                    continue
                write_text_atomic(path, source)
                self.written_files.append(str(path))

    def _plan_heading(self, planned: Split, app_label: str) -> str:
        if self.data_models:
            return f"Data migration for '{app_label}':"
        if any(app == app_label for app, _name in planned.stubs):
            return f"Expand / backfill / contract for '{app_label}':"
        return f"Migrations for '{app_label}' (makesafemigration --safe):"

    def _next_steps_for_empty(self, paths: dict) -> None:
        """An empty migration's bundle has no SQL yet: say how to get it."""
        self.log(self.style.MIGRATE_HEADING("Next:"))
        for (app_label, name), path in paths.items():
            self.log(
                f"  Add operations to {relative(path)}, then capture their SQL with "
                f"'python manage.py bundlemigration {app_label} {name}' (its bundle is empty "
                "until then, and validatemigration reports it stale once the file changes)."
            )
