"""What ``makesafemigration`` asks, beside Django's questions: the expand / backfill / contract
plan for a NOT NULL column the rows have no value for (the first choice offered, and the answer
without a terminal), and the expand / convert / contract plan for a column changing to another
kind (offered interactively). The answers mark the autodetector's operations; :mod:`.expand`
rewrites the marked migrations."""

from __future__ import annotations

import sys
from typing import Any

from django.db import models
from django.db.migrations import AddField, AlterField, Migration
from django.db.migrations.questioner import MigrationQuestioner

from ..capture.plan import RecordingAutodetector
from ..exceptions import MigrationStudioError


class _Expand:
    """The one-off default that stands for "expand / backfill / contract"."""

    def __repr__(self) -> str:
        return "EXPAND"

    def deconstruct(self) -> tuple[str, list, dict]:  # never written: split() removes it
        raise MigrationStudioError("The expand / backfill / contract marker reached a file.")


EXPAND = _Expand()

CHOICE = (
    "Expand, backfill, contract (migration_studio): add it nullable now, fill the existing rows "
    "in short batches with a data migration, then make it NOT NULL in a third migration (no "
    "table lock; the code still running keeps inserting)"
)


class PlanningQuestioner:
    """Django's questioner, offering the plan when a NOT NULL column needs a value for the rows
    already there; without a terminal (``--noinput``) it takes the plan."""

    def __init__(self, inner: MigrationQuestioner) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _interactive(self) -> bool:
        return hasattr(self.inner, "_choice_input") and not self.inner.dry_run

    def ask_not_null_addition(self, field_name: str, model_name: str) -> Any:
        if not self._interactive():
            self._say(f"Adding NOT NULL field '{field_name}' to {model_name}")
            return EXPAND
        choice = self.inner._choice_input(
            f"It is impossible to add a non-nullable field '{field_name}' to {model_name} "
            "without specifying a default. This is because the database needs something to "
            "populate existing rows.\nPlease select a fix:",
            [
                CHOICE,
                "Provide a one-off default now (will be set on all existing rows with a null "
                "value for this column)",
                "Quit and manually define a default value in models.py.",
            ],
        )
        if choice == 1:
            return EXPAND
        if choice == 3:
            sys.exit(3)
        return self.inner._ask_default()

    def ask_not_null_alteration(self, field_name: str, model_name: str) -> Any:
        if not self._interactive():
            self._say(f"Making field '{field_name}' on {model_name} NOT NULL")
            return EXPAND
        choice = self.inner._choice_input(
            f"It is impossible to change a nullable field '{field_name}' on {model_name} to "
            "non-nullable without providing a default. This is because the database needs "
            "something to populate existing rows.\nPlease select a fix:",
            [
                CHOICE.replace("add it nullable now, fill", "fill"),
                "Provide a one-off default now (will be set on all existing rows with a null "
                "value for this column)",
                "Ignore for now. Existing rows that contain NULL values will have to be handled "
                "manually, for example with a RunPython or RunSQL operation.",
                "Quit and manually define a default value in models.py.",
            ],
        )
        if choice == 1:
            return EXPAND
        if choice == 3:
            return models.NOT_PROVIDED
        if choice == 4:
            sys.exit(3)
        return self.inner._ask_default()

    def ask_conversion(self, field_name: str, model_name: str, old: str, new: str) -> bool:
        """A field changes to another kind of column (``old`` -> ``new``): convert the values
        in a data migration? Without a terminal: no (the database converts, as Django does)."""
        if not self._interactive():
            return False
        choice = self.inner._choice_input(
            f"Field '{field_name}' on {model_name} changes from {old} to {new}: the database "
            "converts every row in one statement, while the table is locked, and only where a "
            "cast exists.\nPlease select how:",
            [
                "Expand, convert, contract (migration_studio): add the new column beside the old "
                "one, convert the values in short batches with a data migration (you write the "
                "conversion), then swap the columns in a third migration",
                "Let the database convert the values (ALTER COLUMN ... TYPE), as Django does",
            ],
        )
        return choice == 1

    def _say(self, what: str) -> None:
        log = getattr(self.inner, "log", None)
        if callable(log) and getattr(self.inner, "verbosity", 1) >= 1:
            log(f"{what}: expand / backfill / contract (three migrations, see the bundles).")


class PlanningAutodetector(RecordingAutodetector):
    """The autodetector of ``makesafemigration``: Django's, with :class:`PlanningQuestioner`."""

    def __init__(self, from_state: Any, to_state: Any, questioner: Any = None) -> None:
        if questioner is not None and not isinstance(questioner, PlanningQuestioner):
            questioner = PlanningQuestioner(questioner)
        super().__init__(from_state, to_state, questioner)

    def changes(self, graph: Any, *args: Any, **kwargs: Any) -> dict[str, list[Migration]]:
        """Django's changes; a field changing to another kind of column is marked for the
        conversion plan when the user asks for it."""
        changes = super().changes(graph, *args, **kwargs)
        ask = getattr(self.questioner, "ask_conversion", None)
        for app_label, migrations in changes.items():
            for migration in migrations:
                for op in migration.operations:
                    if not isinstance(op, AlterField) or marked(op):
                        continue
                    old = self.from_state.models[app_label, op.model_name_lower].fields.get(op.name)
                    if old is None or not needs_conversion(old, op.field):
                        continue
                    if ask and ask(op.name, op.model_name, _kind(old), _kind(op.field)):
                        op.convert_from = old
        return changes


#: Kinds of columns whose values convert to each other by a plain cast.
_KINDS = {
    "integer": ("AutoField", "BigAutoField", "SmallAutoField", "IntegerField",
                "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
                "PositiveBigIntegerField", "PositiveSmallIntegerField"),
    "text": ("CharField", "TextField", "SlugField", "EmailField", "URLField"),
}  # fmt: skip


def _kind(field_: models.Field) -> str:
    if field_.is_relation:
        related = getattr(field_.remote_field, "model", None)
        name = related if isinstance(related, str) else getattr(related, "__name__", "?")
        return f"ForeignKey to {name}"
    internal = field_.get_internal_type()
    for kind, types_ in _KINDS.items():
        if internal in types_:
            return kind if kind == "text" else "integer"
    return internal


def needs_conversion(old: models.Field, new: models.Field) -> bool:
    """The column changes to another kind (text to integer, a value to a foreign key ...)."""
    if old.is_relation or new.is_relation:
        return old.is_relation != new.is_relation
    return _kind(old) != _kind(new)


def marked(operation: Any) -> bool:
    return (
        isinstance(operation, AddField | AlterField)
        and not operation.preserve_default
        and operation.field.default is EXPAND
    )


def converting(operation: Any) -> bool:
    return (
        isinstance(operation, AlterField) and getattr(operation, "convert_from", None) is not None
    )
