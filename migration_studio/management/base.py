"""What every migration_studio command shares: interrupts (:mod:`.interrupts`) and user errors.

A :class:`~migration_studio.exceptions.MigrationStudioError` raised anywhere below a command
becomes Django's ``CommandError``: one line on stderr and a non-zero exit, no traceback.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from ..exceptions import MigrationStudioError
from .interrupts import InterruptibleCommand


class StudioCommand(InterruptibleCommand):
    """Mixin, before Django's command class: ``class Command(StudioCommand, BaseCommand)``."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)  # type: ignore[misc]
        except MigrationStudioError as error:
            raise CommandError(str(error)) from None

    def warn(self, message: str) -> None:
        """A warning on stderr, unless ``-v 0``."""
        if getattr(self, "verbosity", 1) >= 1:
            self.stderr.write(self.style.WARNING(f"Warning: {message}"))  # type: ignore[attr-defined]
