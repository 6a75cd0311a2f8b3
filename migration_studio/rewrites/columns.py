"""Fields and columns whose index or default has a safe version (``makesafemigration --safe``,
PostgreSQL): a field gaining ``db_index`` or ``unique``, a new column's index or unique
constraint (built ``CONCURRENTLY`` after the migration), and a new NOT NULL column's default,
kept in the database for the code still running."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import AddField, AlterField, RunSQL, SeparateDatabaseAndState
from django.db.migrations.state import ProjectState
from django.db.models import DateTimeField
from django.db.models.functions import Now
from django.utils import timezone

from .concurrently import INDEX, concurrent_steps, django_sql
from .constraints import table_of

#: Defaults a column can keep in the database as they are (no callable, nothing mutable).
KEPT_DEFAULT_TYPES = (str, int, float, Decimal)


def index_only_change(op: AlterField, app_label: str, from_state: ProjectState) -> bool:
    """The field gains db_index=True or unique=True, had neither, and nothing else changes (a
    change that also drops an index is Django's to make: it finds the index's name in the
    database)."""
    if (app_label, op.model_name_lower) not in from_state.models:
        return False
    old = from_state.models[app_label, op.model_name_lower].fields.get(op.name)
    new = op.field
    if old is None or type(old) is not type(new) or old.db_index or old.unique:
        return False
    if not (new.db_index or new.unique) or new.primary_key:
        return False
    old_kwargs, new_kwargs = old.deconstruct()[3], new.deconstruct()[3]
    for key in ("db_index", "unique"):
        old_kwargs.pop(key, None)
        new_kwargs.pop(key, None)
    return old_kwargs == new_kwargs


def added_column(
    op: AddField, app_label: str, from_state: ProjectState, connection: BaseDatabaseWrapper
) -> tuple[SeparateDatabaseAndState, list[RunSQL], bool] | None:
    """A column added to a table that exists, rewritten when it has an index or is unique (built
    CONCURRENTLY after the migration; unique: then made the constraint USING INDEX), or is NOT
    NULL with a plain default (the default stays in the database, so INSERTs of the code still
    running, which does not know the column, keep working). Returns the operation, the index
    steps, and whether the default is kept."""
    field = op.field
    if (app_label, op.model_name_lower) not in from_state.models:
        return None
    if field.many_to_many or field.remote_field or field.primary_key:
        return None
    unique = unique_column(op, app_label, from_state) if field.unique else None
    if field.unique and unique is None:
        return None
    default = kept_default(field)
    steps: list[RunSQL] = []
    if field.db_index or unique:
        statements = django_sql(op, app_label, from_state, connection)
        steps = concurrent_steps([sql for sql in statements if INDEX.match(sql)]) or []
    if unique:
        steps = (concurrent_steps([unique]) or []) + steps
    if default is None and not steps:
        return None
    _name, _path, args, kwargs = field.deconstruct()
    if steps:
        kwargs["db_index"] = False
        kwargs["unique"] = False
    if default is not None:
        kwargs["db_default"] = default
    bare = type(field)(*args, **kwargs)
    column = SeparateDatabaseAndState(
        database_operations=[
            AddField(op.model_name, op.name, bare, preserve_default=op.preserve_default)
        ],
        state_operations=[op],
    )
    return column, steps, default is not None


def unique_column(op: AddField, app_label: str, from_state: ProjectState) -> str | None:
    """The unique constraint of a new nullable unique column, as PostgreSQL names the one Django
    writes in the column's definition (``<table>_<column>_key``); None when the column is NOT NULL
    (every row would get the same value) or the name would be longer than PostgreSQL keeps."""
    if not op.field.null:
        return None
    table = table_of(op, app_label, from_state)
    field = op.field.clone()
    field.set_attributes_from_name(op.name)
    name = f"{table}_{field.column}_key"
    if len(name) > 63:
        return None
    return f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE ("{field.column}");'


def kept_default(field: Any) -> Any:
    """The database default a new NOT NULL column keeps, where Django would drop the one it adds
    the column with: its plain default (a string, a number), or the current time for a date and
    time set by ``timezone.now`` or ``auto_now`` / ``auto_now_add``. None otherwise."""
    if field.null or field.unique or field.has_db_default():
        return None
    if isinstance(field, DateTimeField) and (
        field.auto_now or field.auto_now_add or field.default is timezone.now
    ):
        return Now()
    if field.has_default() and isinstance(field.default, KEPT_DEFAULT_TYPES):
        return field.default
    return None
