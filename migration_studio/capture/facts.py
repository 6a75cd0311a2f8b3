"""Facts about an operation that its SQL alone does not tell: fields and tables before and after.

They are read from the rendered model states while the operation is captured (the only moment both
states exist), and kept with the bundle for the analysis.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.fields import AlterField
from django.db.migrations.operations.special import RunPython, RunSQL
from django.db.migrations.state import ProjectState
from django.db.models import NOT_PROVIDED, Value
from django.db.models.fields import Field

from ..bundle.model import FieldFacts, OperationFacts
from ..sql.reader import parse, parse_all
from ..sql.text import quote_identifier


def _model(state: ProjectState, app_label: str, name: str | None) -> Any:
    if not name:
        return None
    try:
        return state.apps.get_model(app_label, name)
    except LookupError:
        return None


def _has_db_default(field: Field) -> bool:
    """Whether the column gets a database default: ``db_default=None`` (or ``Value(None)``) only
    writes ``DEFAULT NULL``, which is no default for a NOT NULL column."""
    db_default = getattr(field, "db_default", NOT_PROVIDED)
    if db_default is NOT_PROVIDED or db_default is None:
        return False
    return not (isinstance(db_default, Value) and db_default.value is None)


def _field_facts(field: Field, connection: BaseDatabaseWrapper) -> FieldFacts:
    default = getattr(field, "default", NOT_PROVIDED)
    target = target_column = None
    if field.is_relation and not field.many_to_many and field.related_model is not None:
        target = getattr(field.related_model._meta, "db_table", None)
        target_field = getattr(field, "target_field", None)
        target_column = getattr(target_field, "column", None)
    return FieldFacts(
        name=field.name,
        column=field.column if field.concrete and not field.many_to_many else None,
        db_type=field.db_type(connection) if field.concrete else None,
        null=bool(field.null),
        primary_key=bool(field.primary_key),
        unique=bool(field.unique),
        db_index=bool(field.db_index),
        is_relation=bool(field.is_relation),
        many_to_many=bool(field.many_to_many),
        target_table=target,
        target_column=target_column,
        # default=None gives the ADD COLUMN no DEFAULT at all.
        has_default=default is not NOT_PROVIDED and default is not None,
        callable_default=getattr(default, "__qualname__", repr(default))
        if default is not NOT_PROVIDED and callable(default)
        else None,
        has_db_default=_has_db_default(field),
    )


def _get_field(model: Any, name: str | None) -> Field | None:
    if model is None or not name:
        return None
    try:
        return model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist, or a reverse relation: not a column of this table
        return None


def _model_names(operation: Operation) -> tuple[str | None, str | None]:
    """The model's name before and after ``operation`` (lower case; None when it has none)."""
    model_name = getattr(operation, "model_name_lower", None) or getattr(
        operation, "name_lower", None
    )
    # RenameModel's old and new names are the model's; RenameField's are the field's.
    renames_model = not hasattr(operation, "model_name")
    old_model_name = (renames_model and getattr(operation, "old_name_lower", None)) or model_name
    new_model_name = (renames_model and getattr(operation, "new_name_lower", None)) or model_name
    return old_model_name, new_model_name


def not_null_checked(
    operation: Operation, app_label: str, before: ProjectState, connection: BaseDatabaseWrapper
) -> list[str]:
    """For an AlterField that makes a nullable column NOT NULL, on PostgreSQL: the columns of the
    model's table that a validated CHECK constraint requires to be set, as the database stands
    before the operation runs (one catalog query, only for such an operation)."""
    if connection.vendor != "postgresql" or not isinstance(operation, AlterField):
        return []
    if operation.field.null:
        return []
    model = _model(before, app_label, _model_names(operation)[0])
    old = _get_field(model, operation.name)
    if model is None or old is None or not old.null:
        return []
    return _validated_not_null(model._meta.db_table, connection)


def sql_not_null_checked(
    operation: Operation, connection: BaseDatabaseWrapper
) -> dict[str, list[str]]:
    """For a RunSQL whose SQL sets columns NOT NULL, on PostgreSQL: per table it alters so, the
    columns a validated CHECK constraint requires to be set, as the database stands before the
    operation runs (such a constraint may come from an earlier migration, validated earlier in
    this one)."""
    if connection.vendor != "postgresql" or not isinstance(operation, RunSQL):
        return {}
    texts = [operation.sql] if isinstance(operation.sql, str) else list(operation.sql)
    tables = {
        statement.table
        for text in texts
        if isinstance(text, str)
        for statement in parse_all(text)
        if statement.table and any(a.kind == "set_not_null" for a in statement.actions)
    }
    found = {table: _validated_not_null(table, connection) for table in sorted(tables)}
    return {table: columns for table, columns in found.items() if columns}


def _validated_not_null(table: str, connection: BaseDatabaseWrapper) -> list[str]:
    """The columns of ``table`` that a validated CHECK constraint requires to be set."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(quote_ident(%s)) AND contype = 'c' AND convalidated",
            [table],
        )
        constraints = cursor.fetchall()
    columns: set[str] = set()
    for name, definition in constraints:
        quoted_table, quoted_name = (quote_identifier(n, "postgresql") for n in (table, name))
        statement = parse(f"ALTER TABLE {quoted_table} ADD CONSTRAINT {quoted_name} {definition}")
        for action in statement.actions:
            columns.update(action.required_columns)
    return sorted(columns)


def operation_facts(
    operation: Operation,
    app_label: str,
    before: ProjectState,
    after: ProjectState,
    connection: BaseDatabaseWrapper,
) -> OperationFacts:
    """What ``operation`` changes, read from the rendered states around it."""
    old_model_name, new_model_name = _model_names(operation)
    old_model = _model(before, app_label, old_model_name)
    new_model = _model(after, app_label, new_model_name)
    facts = OperationFacts(
        table_before=old_model._meta.db_table if old_model is not None else None,
        table_after=new_model._meta.db_table if new_model is not None else None,
    )
    field_name = getattr(operation, "name", None) if hasattr(operation, "model_name") else None
    old_name = getattr(operation, "old_name", None) if hasattr(operation, "model_name") else None
    new_name = getattr(operation, "new_name", None) if hasattr(operation, "model_name") else None
    old_field = _get_field(old_model, old_name or field_name)
    new_field = _get_field(new_model, new_name or field_name)
    if old_field is not None:
        facts.field_before = _field_facts(old_field, connection)
    if new_field is not None:
        facts.field_after = _field_facts(new_field, connection)
    if old_model is not None:
        facts.referenced_by = sorted(
            {
                rel.related_model._meta.db_table
                for rel in old_model._meta.related_objects
                if not rel.many_to_many and rel.related_model is not None
            }
        )
        facts.points_to = sorted(
            {
                f.related_model._meta.db_table
                for f in old_model._meta.concrete_fields
                if f.is_relation
                and f.related_model is not None
                and f.related_model is not old_model
            }
        )
    if isinstance(operation, RunPython):
        facts.reverse_noop = operation.reverse_code is RunPython.noop
        facts.backfill = declared_backfill(operation)
    elif isinstance(operation, RunSQL):
        facts.reverse_noop = operation.reverse_sql is not None and not operation.reverse_sql
    constraint = getattr(operation, "constraint", None)
    if constraint is not None and getattr(constraint, "name", None):
        facts.constraint = constraint.name
        if old_model is not None:
            facts.null_when_unset = [
                f.column
                for f in old_model._meta.concrete_fields
                if f.null
                and not f.primary_key
                and getattr(f, "default", NOT_PROVIDED) in (NOT_PROVIDED, None)
                and not _has_db_default(f)
            ]
    for model in (old_model, new_model):
        if model is None:
            continue
        for index in model._meta.indexes:
            if index.name:
                facts.indexes[index.name] = model._meta.db_table
    return facts


def declared_backfill(operation: RunPython) -> dict[str, Any] | None:
    """What a data-migration stub declares of its code (``BACKFILL`` in its module): the model,
    the field and the target time of a batch; None for other code."""
    declared = (getattr(operation.code, "__globals__", None) or {}).get("BACKFILL")
    if not isinstance(declared, dict):
        return None
    return {
        "model": str(declared.get("model", "")),
        "field": str(declared.get("field", "")),
        "batch_seconds": float(declared.get("batch_seconds") or 0),
    }
