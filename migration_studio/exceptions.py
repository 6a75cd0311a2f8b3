"""The errors migration_studio raises for the user: one base class, one subclass per concern.

Every message is one sentence for the user. Management commands turn :class:`MigrationStudioError`
into ``CommandError`` (one line, non-zero exit); other callers (the admin, scripts) can catch it the
same way.
"""

from __future__ import annotations


class MigrationStudioError(Exception):
    """Base class of the errors whose message is meant for the user."""


class BundleError(MigrationStudioError):
    """A bundle could not be written or read."""


class GraphError(MigrationStudioError):
    """The migration files changed under a run."""


class ScratchError(MigrationStudioError):
    """A scratch database could not be created, used or dropped."""


class CaptureError(MigrationStudioError):
    """An operation failed on the scratch database."""


class StatsError(MigrationStudioError):
    """Table sizes could not be read."""


class ValidationEnvironmentError(MigrationStudioError):
    """A validation could not run (not the bundle's fault)."""


class RecordsUnavailable(MigrationStudioError):
    """The app's tables are missing (run migrate) or unreachable; results stay in the files."""


class SelectionError(MigrationStudioError):
    """The arguments name no migration or bundle, or more than one."""


class GateError(MigrationStudioError):
    """The release gate cannot judge the plan: the target database or the options are unusable."""


class SourceEditError(MigrationStudioError):
    """A model's definition could not be edited safely in its source file."""


class PackageSourceError(SourceEditError):
    """A model is defined in an installed package: its files are not the project's to edit."""
