"""The part of a project state that a migration's schema operations can see.

Rendering a project state (building model classes for every model) is the costliest step of running
a migration in Python, and a migration usually touches a few models of hundreds. The schema editor
only looks at the models an operation names, the models they point to (to render and for column
types) and the models pointing at them (for constraints and column types that follow a changed
primary key), which is what Django itself reloads after an operation. A state holding just those
renders in a fraction of the time and produces the same SQL.

Operations that may look anywhere (``RunPython`` code gets the whole app registry, custom operations
are unknown) make :func:`substate` return ``None``: the caller then uses the full state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db.migrations import Migration
from django.db.migrations import operations as ops
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.fields import FieldOperation
from django.db.migrations.operations.models import IndexOperation, ModelOperation
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.utils import resolve_relation

ModelKey = tuple[str, str]

# Operations whose effect is limited to the models they name (and their relations).
_MODEL_SCOPED = (FieldOperation, ModelOperation, IndexOperation)


def substate(state: ProjectState, migration: Migration) -> ProjectState | None:
    """A copy of ``state`` restricted to what ``migration`` can touch, or None if unknowable."""
    seeds: set[ModelKey] = set()
    for operation in migration.operations:
        touched = _touched(operation, migration.app_label)
        if touched is None:
            return None
        seeds |= touched
    graph = _forward_relations(state)
    pointing_at: dict[ModelKey, set[ModelKey]] = {}
    for source, targets in graph.items():
        for target in targets:
            pointing_at.setdefault(target, set()).add(source)
    keep = set(seeds)
    for seed in seeds:
        keep |= pointing_at.get(seed, set())
    pending = list(keep)
    while pending:  # everything the kept models point to, transitively, so they can render
        for target in graph.get(pending.pop(), ()):
            if target not in keep:
                keep.add(target)
                pending.append(target)
    models = {key: state.models[key].clone() for key in keep if key in state.models}
    return ProjectState(models=models, real_apps=state.real_apps)


def _touched(operation: Operation, app_label: str) -> set[ModelKey] | None:
    if isinstance(operation, ops.RunSQL):
        if not operation.state_operations:
            return set()
        found: set[ModelKey] = set()
        for inner in operation.state_operations:
            touched = _touched(inner, app_label)
            if touched is None:
                return None
            found |= touched
        return found
    if not isinstance(operation, _MODEL_SCOPED):
        return None
    names = {
        getattr(operation, attribute)
        for attribute in ("name_lower", "model_name_lower", "old_name_lower", "new_name_lower")
        if isinstance(getattr(operation, attribute, None), str)
    }
    found = {(app_label, name) for name in names}
    fields = []
    if isinstance(operation, ops.CreateModel):
        fields = [field for _, field in operation.fields]
        found |= set(_bases(operation.bases, app_label))
    elif isinstance(operation, ops.AddField | ops.AlterField):
        fields = [operation.field]
    for field in fields:
        found |= set(_field_targets(field, app_label, next(iter(names), "")))
    return found


def _field_targets(field: object, app_label: str, model_name: str) -> Iterator[ModelKey]:
    remote = getattr(field, "remote_field", None)
    if remote is None:
        return
    for reference in (remote.model, getattr(remote, "through", None)):
        if reference is not None:
            yield resolve_relation(reference, app_label, model_name)


def _bases(bases: Iterable[object], app_label: str) -> Iterator[ModelKey]:
    for base in bases:
        if isinstance(base, str):
            yield resolve_relation(base, app_label)
        elif hasattr(base, "_meta") and not base._meta.abstract:
            yield (base._meta.app_label, base._meta.model_name)


def _forward_relations(state: ProjectState) -> dict[ModelKey, set[ModelKey]]:
    graph: dict[ModelKey, set[ModelKey]] = {}
    for key, model_state in state.models.items():
        graph[key] = set(_model_targets(key, model_state))
    return graph


def _model_targets(key: ModelKey, model_state: ModelState) -> Iterator[ModelKey]:
    app_label, model_name = key
    for field in model_state.fields.values():
        yield from _field_targets(field, app_label, model_name)
    yield from _bases(model_state.bases, app_label)
