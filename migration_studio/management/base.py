"""What every migration_studio command shares: interrupts (:mod:`.interrupts`) and user errors.

A :class:`~migration_studio.exceptions.MigrationStudioError` raised anywhere below a command
becomes Django's ``CommandError``: one line on stderr and a non-zero exit, no traceback. An error of
Django's system checks (run before ``handle()``) exits with :data:`EXIT_CHECKS`, as invalid
command-line usage does: the command did not start, which a pipeline must not read as a result (1 is
"a bundle failed" for ``validatemigration``, "changes without migrations" for ``makesafemigration
--check``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, SystemCheckError

from ..exceptions import MigrationStudioError
from .interrupts import InterruptibleCommand

#: The exit status of a run stopped by Django's system checks (argparse's, for invalid usage).
EXIT_CHECKS = 2


class StudioCommand(InterruptibleCommand):
    """Mixin, before Django's command class: ``class Command(StudioCommand, BaseCommand)``."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)  # type: ignore[misc]
        except SystemCheckError as error:
            error.returncode = EXIT_CHECKS
            raise
        except MigrationStudioError as error:
            raise CommandError(str(error)) from None

    def warn(self, message: str) -> None:
        """A warning on stderr, unless ``-v 0``."""
        if getattr(self, "verbosity", 1) >= 1:
            self.stderr.write(self.style.WARNING(f"Warning: {message}"))  # type: ignore[attr-defined]
