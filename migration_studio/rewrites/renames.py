"""Renames that keep the database name (``makesafemigration --safe``, on every database).

A ``RenameField`` renames the column and a ``RenameModel`` the table: the code still running
during a rolling deploy queries the old name and fails. Here the field keeps its column
(``db_column``) and the model its table (``db_table``), so the rename changes Django's state and
runs no SQL:

- a field: ``AlterField(model, old name, field with db_column=<old column>)`` then the
  ``RenameField``, as Django writes them when ``db_column`` is added with the rename; neither
  alters the column;
- a model: ``RenameModel`` then ``AlterModelTable(new name, <old table>)``, in Django's state
  only (``SeparateDatabaseAndState``). The columns of foreign keys pointing to it keep their
  names (they are named after the field).

For the state to be the models', the models must say so too: :func:`plan` prepares the edit of
the model's source file (``db_column="..."`` on the field, ``db_table = "..."`` in its ``class
Meta``, see :mod:`.source`) and :func:`apply` writes it. A rename whose definition cannot be
edited for certain, or whose names cannot all be kept (tables of many-to-many fields name their
columns after the model), stays Django's, with one sentence saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps as django_apps
from django.db.migrations import (
    AlterField,
    AlterModelTable,
    Migration,
    RenameField,
    RenameModel,
    SeparateDatabaseAndState,
)
from django.db.migrations.operations.fields import FieldOperation
from django.db.migrations.state import ProjectState

from ..exceptions import PackageSourceError, SourceEditError
from . import source
from .backfill import model_label


@dataclass
class Kept:
    """A rename that keeps its database name ``name`` thanks to ``added`` in ``path``."""

    operation: RenameField | RenameModel
    app_label: str
    what: str  # "column of shop.Customer.name", "table of shop.Customer"
    name: str
    added: str  # "db_column='full_name'", "db_table = 'shop_client'"
    path: Path
    class_name: str
    keyword: str  # "db_column" or "db_table"
    line: int = 0
    #: RenameField: the field as it is before the rename, with ``db_column``.
    kept_field: Any = None


@dataclass
class Renames:
    """The renames ``--safe`` rewrites (``kept``, with the source edits they need) and, for the
    others, one sentence each saying why not (``plain``)."""

    kept: list[Kept] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    #: Each edited file: (its text when read, its text with every edit).
    files: dict[Path, tuple[str, str]] = field(default_factory=dict)

    def of(self, operation: Any) -> Kept | None:
        return next((kept for kept in self.kept if kept.operation is operation), None)


def plan(
    changes: dict[str, list[Migration]],
    from_state: ProjectState | None,
    registry: Any = None,
) -> Renames:
    """Which renames of ``changes`` keep their database name, and the edits of the models'
    files that make the models say so (nothing is written). ``registry``: where the models'
    classes are found (Django's app registry)."""
    registry = registry or django_apps
    result = Renames()
    if from_state is None:
        return result
    for app_label, migrations in changes.items():
        operations = [op for migration in migrations for op in migration.operations]
        for op in operations:
            names = renamed_names(op, app_label, from_state)
            if names is None:
                continue
            kind, old, new = names
            try:
                result.kept.append(
                    _kept(op, app_label, from_state, registry, operations, old, result.files)
                )
            except SourceEditError as error:
                what = _what(op, app_label)
                keyword = "db_column" if kind == "column" else "db_table"
                where = "to the field" if kind == "column" else "to its class Meta"
                by_hand = (
                    ""
                    if isinstance(error, PackageSourceError)
                    else f" To keep the {kind}, add {keyword}={old!r} {where} by hand before "
                    "making the migration."
                )
                result.plain.append(
                    f"Kept Django's rename of {what} (its {kind} '{old}' becomes '{new}', "
                    f"which breaks the code still running): {error}.{by_hand}"
                )
    for kept in result.kept:
        field_name = kept.operation.new_name if kept.keyword == "db_column" else None
        kept.line = source.line_of(result.files[kept.path][1], kept.class_name, field_name)
    return result


def renamed_names(op: Any, app_label: str, from_state: ProjectState) -> tuple[str, str, str] | None:
    """("column" or "table", old name, new name) when ``op`` renames a field's column or a
    model's table that exists before the migration; None otherwise."""
    if isinstance(op, RenameField):
        model_state = from_state.models.get((app_label, op.model_name_lower))
        if model_state is None or op.old_name not in model_state.fields:
            return None  # a field added by the same plan (a conversion's new column)
        model = from_state.apps.get_model(app_label, op.model_name_lower)
        old = model._meta.get_field(op.old_name)
        if not old.concrete or old.many_to_many or not old.column or old.db_column:
            return None
        new = old.clone()
        new.set_attributes_from_name(op.new_name)
        return None if new.column == old.column else ("column", old.column, new.column)
    if isinstance(op, RenameModel):
        if (app_label, op.old_name_lower) not in from_state.models:
            return None
        old_model = from_state.apps.get_model(app_label, op.old_name_lower)
        if not old_model._meta.managed or old_model._meta.proxy:
            return None
        state = from_state.clone()
        op.state_forwards(app_label, state)
        new_table = state.apps.get_model(app_label, op.new_name_lower)._meta.db_table
        old_table = old_model._meta.db_table
        return None if new_table == old_table else ("table", old_table, new_table)
    return None


def operations(kept: Kept) -> list[Any]:
    """The rename as it runs no SQL (see the module's docstring)."""
    op = kept.operation
    if isinstance(op, RenameField):
        return [AlterField(op.model_name, op.old_name, kept.kept_field), op]
    return [
        SeparateDatabaseAndState(
            state_operations=[op, AlterModelTable(op.new_name, kept.name)],
        )
    ]


def note(kept: list[Kept]) -> Callable[..., str]:
    """The stage's docstring: what was rewritten and why."""
    lines = []
    for each in kept:
        op = each.operation
        if isinstance(op, RenameField):
            lines.append(
                f"Renames {each.what.removeprefix('column of ')} (was {op.old_name}) in Django's "
                f"state only (makesafemigration --safe): the column keeps its name "
                f"'{each.name}' (db_column, added to the model), so the rename runs no SQL and "
                "the code still running keeps working."
            )
        else:
            lines.append(
                f"Renames {each.what.removeprefix('table of ')} (was {op.old_name}) in Django's "
                f"state only (makesafemigration --safe): the table keeps its name "
                f"'{each.name}' (db_table, added to the model's Meta), so the rename runs no SQL "
                "and the code still running keeps working."
            )
    text = "\n".join(lines)
    return lambda final_names, app: text


def apply(renames: Renames) -> None:
    """Write the edited models' files (each at most once)."""
    for path, (before, after) in renames.files.items():
        source.write(path, before, after)


def _kept(
    op: Any,
    app_label: str,
    from_state: ProjectState,
    registry: Any,
    operations: list[Any],
    old: str,
    files: dict[Path, tuple[str, str]],
) -> Kept:
    """The rename kept, its model's file edited in ``files``; SourceEditError when it cannot."""
    model_name = op.model_name if isinstance(op, RenameField) else op.new_name
    try:
        model = registry.get_model(app_label, model_name)
    except LookupError:
        raise SourceEditError(f"the app has no model {model_name}") from None
    if isinstance(op, RenameModel):
        _check_many_to_many(from_state.apps.get_model(app_label, op.old_name_lower))
    others = [other for other in operations if _changes_it_too(other, op)]
    if others:
        raise SourceEditError(
            f"this migration also changes it ({others[0].describe()}); make the rename a "
            "migration of its own"
        )
    path = source.model_file(model)
    if path not in files:
        text = path.read_text(encoding="utf-8")
        files[path] = (text, text)
    before, current = files[path]
    class_name = model.__name__
    if isinstance(op, RenameField):
        edited, _ = source.add_db_column(current, class_name, op.new_name, old)
        keyword = "db_column"
    else:
        edited, _ = source.add_db_table(current, class_name, old)
        keyword = "db_table"
    files[path] = (before, edited)
    kept = Kept(
        operation=op,
        app_label=app_label,
        what=_what(op, app_label),
        name=old,
        added=f"{keyword}={old!r}",
        path=path,
        class_name=class_name,
        keyword=keyword,
    )
    if isinstance(op, RenameField):
        state_field = from_state.models[app_label, op.model_name_lower].fields[op.old_name]
        _name, _path, args, kwargs = state_field.deconstruct()
        kept.kept_field = type(state_field)(*args, **{**kwargs, "db_column": old})
    return kept


def _changes_it_too(other: Any, op: Any) -> bool:
    """``other`` changes the renamed field's definition (which would lose the db_column) or sets
    the renamed model's table."""
    if isinstance(op, RenameField):
        return (
            isinstance(other, FieldOperation)
            and other is not op
            and other.model_name_lower == op.model_name_lower
            and other.name_lower == op.new_name_lower
        )
    return isinstance(other, AlterModelTable) and other.name_lower == op.new_name_lower


def _check_many_to_many(model: Any) -> None:
    """A table of a many-to-many field names its columns after the models: renaming one
    renames them, whatever db_table says."""
    for many in model._meta.local_many_to_many:
        if many.remote_field.through._meta.auto_created:
            raise SourceEditError(
                f"the table of its many-to-many field {many.name} has columns named after the "
                "model, which the rename renames"
            )
    for related in model._meta.related_objects:
        if related.many_to_many and related.through._meta.auto_created:
            raise SourceEditError(
                f"the table of {related.related_model._meta.object_name}.{related.field.name} "
                "(many-to-many) has a column named after the model, which the rename renames"
            )


def _what(op: Any, app_label: str) -> str:
    if isinstance(op, RenameField):
        return f"column of {app_label}.{model_label(app_label, op.model_name)}.{op.new_name}"
    return f"table of {app_label}.{op.new_name}"
