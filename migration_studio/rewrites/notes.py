"""What each migration ``makesafemigration --safe`` writes says about itself: its docstring,
shown in its bundle README."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.migrations import AddConstraint, AddField, AlterField, DeleteModel, RemoveField

from .backfill import model_label


def column_name(op: Any) -> str:
    return f"the column {op.name}"


def index_name(op: Any) -> str:
    kind = "unique index" if op.field.unique else "index"
    return f"the {kind} of {op.name}"


def removal_note(removes: list[Any], app_label: str, later: str) -> Callable[..., str]:
    names = ", ".join(
        f"{app_label}.{model_label(app_label, op.model_name)}.{op.name}"
        if isinstance(op, RemoveField)
        else f"the table of {app_label}.{op.name}"
        for op in removes
    )
    return lambda final_names, app: (
        f"Removes {names} from Django's state only (makesafemigration --safe): the columns and "
        "tables stay (a column made nullable), so the code still running keeps reading and "
        f"writing them. {app}.{final_names.get((app, later), later)} drops them: deploy that "
        "once no code uses them any more."
    )


def operation_name(op: Any) -> str:
    if isinstance(op, AddConstraint):
        return op.constraint.name
    if isinstance(op, AlterField):
        return f"NOT NULL of {op.name}"
    if isinstance(op, AddField):
        return f"the foreign key {op.name}"
    if isinstance(op, RemoveField):
        return f"the column of {op.name}"
    if isinstance(op, DeleteModel):
        return "the table"
    return getattr(op, "name", None) or op.index.name


NOTES = {
    "fill default": (
        "Makes {names} without a lock held while the NULL rows are filled (makesafemigration "
        "--safe): the column gets its default now; the next migration fills the NULL rows in "
        "batches and adds a CHECK (column IS NOT NULL) NOT VALID; the one after validates it and "
        "sets NOT NULL without a scan. The default stays in the database (Django drops it), so "
        "a writer that leaves the column out keeps working."
    ),
    "fill": (
        "Fills the NULL rows of {names} with its default in batches of primary keys, each "
        "committed on its own (row locks only, for one batch), adds CHECK (column IS NOT NULL) "
        "NOT VALID, and fills the rows inserted meanwhile (makesafemigration --safe). The "
        "migration is not atomic: run again, it goes on where it stopped. Rolling back leaves "
        "the values (NULL is not kept)."
    ),
    "keep default": (
        "Adds {names} with a default kept in the database (makesafemigration --safe): its plain "
        "default, or the current time for a date and time set by timezone.now, auto_now or "
        "auto_now_add. Django would drop the default once the rows have a value, and the code "
        "still running, which does not know the column, could then insert no row. Django's state "
        "is as makemigrations writes it; the new code always sets the column itself."
    ),
    "field index": (
        "Builds {names} CONCURRENTLY (makesafemigration --safe): writes to the table go on "
        "while it is built; a unique one then becomes the constraint (ADD CONSTRAINT ... USING "
        "INDEX, no scan). The migration is not atomic, as PostgreSQL requires.\n"
        "If the build fails it leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY), fix "
        "the rows if a unique one failed, and run the migration again."
    ),
    "drop later": (
        "Drops {names} (makesafemigration --safe), which an earlier migration removed from "
        "Django's state only: deploy it once no code running uses them. With a backup "
        "(--backup), rolling back puts the values back."
    ),
    "fk not valid": (
        "Adds {names} in steps (makesafemigration --safe): the column alone (no scan), then its "
        "constraint NOT VALID, which reads no row; the next migration validates it, and the "
        "column's index is built CONCURRENTLY."
    ),
    "fk validate": (
        "Validates {names} (SHARE UPDATE EXCLUSIVE on the table: reads and writes go on). A row "
        "pointing nowhere makes it fail, changing nothing."
    ),
    "not null check": (
        "Makes the column NOT NULL in two steps (makesafemigration --safe): {names} is checked "
        "by a CHECK (column IS NOT NULL) added NOT VALID, which reads no row; the next migration "
        "validates it and sets NOT NULL without reading the table again."
    ),
    "set not null": (
        "Validates the CHECK (column IS NOT NULL) of {names} (SHARE UPDATE EXCLUSIVE: reads and "
        "writes go on), sets NOT NULL, which PostgreSQL 12+ does without a scan thanks to the "
        "validated check, and drops the check. A row still NULL makes it fail, changing nothing."
    ),
    "unique index": (
        "Adds {names} without blocking writes (makesafemigration --safe): its unique index is "
        "built CONCURRENTLY, then made the constraint (ADD CONSTRAINT ... USING INDEX, no scan). "
        "The migration is not atomic, as PostgreSQL requires.\n"
        "If rows break the uniqueness the build fails and leaves an INVALID index: drop it "
        "(DROP INDEX CONCURRENTLY), fix the rows, and run the migration again."
    ),
    "build": (
        "Builds {names} CONCURRENTLY (makesafemigration --safe): writes to the table go on while "
        "the index is built; the migration is not atomic, as PostgreSQL requires.\n"
        "If the build fails it leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY) and "
        "run the migration again."
    ),
    "drop": (
        "Drops {names} CONCURRENTLY (makesafemigration --safe): queries and writes go on while "
        "the index is dropped; the migration is not atomic, as PostgreSQL requires."
    ),
    "not valid": (
        "Adds {names} NOT VALID (makesafemigration --safe): new and updated rows are checked "
        "from now on, and the table is not read; the next migration validates the rows already "
        "there."
    ),
    "validate": (
        "Validates {names} (makesafemigration --safe): the previous migration added it NOT "
        "VALID, without reading the table; VALIDATE CONSTRAINT reads it under SHARE UPDATE "
        "EXCLUSIVE, which lets reads and writes go on. It is a migration of its own because in "
        "the same transaction the first lock (ACCESS EXCLUSIVE) would last until the end of the "
        "scan.\n"
        "If a row breaks the constraint, this migration fails and the constraint stays NOT "
        "VALID: fix the rows and run it again."
    ),
}


def joined(notes: list[Callable[..., str]]) -> Callable[..., str]:
    """One docstring of several notes (bound now, not when the docstring is written)."""
    return lambda final_names, app: "\n".join(note(final_names, app) for note in notes)


def note(
    kind: str,
    operations: list[Any],
    app_label: str,
    what: Callable[[Any], str] = operation_name,
) -> Callable[..., str]:
    names = ", ".join(
        f"{what(op)} on {app_label}."
        f"{model_label(app_label, getattr(op, 'model_name', None) or op.name)}"
        for op in operations
    )
    text = NOTES[kind].format(names=names)
    return lambda final_names, app: text
