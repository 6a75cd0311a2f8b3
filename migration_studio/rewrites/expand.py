"""Expand / backfill / contract: a NOT NULL column added to a table with rows (or a nullable
column made NOT NULL) becomes three migrations instead of one.

1. **expand**: the column is added nullable, so the code still running keeps inserting rows;
2. **backfill**: a data migration (:mod:`.backfill`) fills the rows without a value, in short
   batches, each committed on its own;
3. **contract**: the column becomes NOT NULL, once every row has a value.

A column changing to another kind gets the same shape: the new column beside the old one, a
conversion stub, then the swap. Django's migration state after the stages is the state the single
migration gives (``makemigrations --check`` finds nothing to do). :mod:`.questions` marks the
operations; :func:`split` rewrites the migrations holding them.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps as django_apps
from django.db import models
from django.db.migrations import AddField, AlterField, Migration, RemoveField, RenameField
from django.db.migrations.writer import MigrationWriter

from ..capture.graph import Node
from ..exceptions import MigrationStudioError
from .backfill import BackfillStub, ConvertStub, load, model_label, render, render_convert
from .questions import converting, marked


@dataclass
class Split:
    """Every migration to write (``changes``), and the text of those of a plan (``sources``:
    the backfill stubs, and the expand and contract migrations with a docstring saying which
    stage they are); Django's writer writes the others."""

    changes: dict[str, list[Migration]]
    sources: dict[Node, str] = field(default_factory=dict)
    #: The nodes of the backfill stubs.
    stubs: set[Node] = field(default_factory=set)


Stager = Callable[[Migration, Any, str], "list[tuple[Migration, str]] | None"]


def split(changes: dict[str, list[Migration]], also: Stager | None = None) -> Split:
    """``changes`` with each migration holding a marked operation split into the plan's three
    stages (or, for the others, into the stages ``also`` gives: the safe rewrites), renumbered; a
    dependency on the original migration now points at its last stage."""
    result = Split(changes={})
    final_names: dict[Node, str] = {}  # (app, provisional name) -> final name
    aliases: dict[Node, Node] = {}  # (app, original name) -> (app, provisional name of its end)
    replaced: dict[Node, Node] = {}  # a stage replaced by its safe version -> the version's end
    for app_label, migrations in changes.items():
        number = _number(migrations[0].name) if migrations else None
        staged: list[tuple[Migration, str]] = []
        for position, migration in enumerate(migrations):
            stages = None
            if any(marked(op) or converting(op) for op in migration.operations):
                stages = _stages(migration, position)
                if also is not None:  # the plan's stages may have safe versions too
                    stages = _safer(stages, also, position, app_label, replaced)
            elif also is not None:
                stages = also(migration, position, _suffix(migration.name))
            if not stages:
                staged.append((migration, _suffix(migration.name)))
                continue
            aliases[(app_label, migration.name)] = (app_label, stages[-1][0].name)
            staged += stages
        for migration, suffix in staged:
            final = f"{number:04d}_{suffix}" if number is not None else migration.name
            final_names[(app_label, migration.name)] = final
            if number is not None:
                number += 1
        result.changes[app_label] = [migration for migration, _ in staged]
    for old, new in replaced.items():
        final_names[old] = final_names[new]

    def renamed(dependency: Any) -> tuple[str, str]:
        node = aliases.get(tuple(dependency), tuple(dependency))
        return node[0], final_names.get(node, node[1])

    for app_label, migrations in result.changes.items():
        for migration in migrations:
            migration.dependencies = [renamed(d) for d in migration.dependencies]
            migration.name = final_names[(app_label, migration.name)]
    for app_label, migrations in result.changes.items():
        for index, migration in enumerate(migrations):
            node = (app_label, migration.name)
            note = getattr(migration, "plan_note", None)
            if note is not None:
                text = MigrationWriter(migration).as_string()
                if migration.atomic is False:
                    text = text.replace(
                        "class Migration(migrations.Migration):\n",
                        "class Migration(migrations.Migration):\n\n    atomic = False\n",
                        1,
                    )
                result.sources[node] = with_docstring(text, note(final_names, app_label))
            stub = getattr(migration, "backfill_stub", None) or getattr(
                migration, "convert_stub", None
            )
            if stub is None:
                continue
            stub.name = migration.name
            stub.dependencies = list(migration.dependencies)
            source = render_convert(stub) if isinstance(stub, ConvertStub) else render(stub)
            migrations[index] = load(app_label, migration.name, source)
            result.sources[node] = source
            result.stubs.add(node)
    return result


def _safer(
    stages: list[tuple[Migration, str]],
    also: Stager,
    position: int,
    app_label: str,
    replaced: dict[Node, Node],
) -> list[tuple[Migration, str]]:
    """The plan's stages, each replaced by its safe version when it has one (the stubs have
    none); ``replaced`` learns where each replaced stage now ends. A stage's "drop later"
    migration (columns and tables the state let go of) goes after the whole plan, to be
    deployed last."""
    result: list[tuple[Migration, str]] = []
    later: list[tuple[Migration, str]] = []
    for number, (stage, suffix) in enumerate(stages):
        safer = None
        if not hasattr(stage, "backfill_stub") and not hasattr(stage, "convert_stub"):
            safer = also(stage, f"{position}_{number}", suffix)
        if not safer:
            result.append((stage, suffix))
            continue
        note = getattr(stage, "plan_note", None)
        for new, _ in safer:
            _prepend_note(new, note)
        if len(safer) > 1 and safer[-1][0].name.startswith("__droplater_"):
            later.append(safer.pop())
        replaced[(app_label, stage.name)] = (app_label, safer[-1][0].name)
        # The stages after this one depended on it: they now depend on its safe version's end.
        result += safer
    names = {old[1]: new[1] for old, new in replaced.items()}
    for stage, _ in result:
        stage.dependencies = [
            (app, names.get(name, name)) if app == app_label else (app, name)
            for app, name in stage.dependencies
        ]
    for stage, suffix in later:
        stage.dependencies = [(app_label, result[-1][0].name)]
        result.append((stage, suffix))
    return result


def _prepend_note(stage: Migration, note: Any) -> None:
    """``note`` (the plan's) first in the stage's docstring, before the safe rewrite's own."""
    if note is None:
        return
    own = getattr(stage, "plan_note", None)
    stage.plan_note = (
        note if own is None else lambda names, app: f"{note(names, app)}\n{own(names, app)}"
    )


def planned_paths(planned: Split) -> dict[Node, Path]:
    """Where the plan's migrations are written."""
    return {
        (app_label, migration.name): Path(MigrationWriter(migration).path)
        for app_label, migrations in planned.changes.items()
        for migration in migrations
        if (app_label, migration.name) in planned.sources
    }


def with_docstring(source: str, docstring: str) -> str:
    """``source`` (a migration file from Django's writer) with ``docstring`` as its module
    docstring, after the "Generated by" comment."""
    lines = source.splitlines(keepends=True)
    header = 0
    while header < len(lines) and (lines[header].startswith("#") or not lines[header].strip()):
        header += 1
    text = "\n".join(
        textwrap.fill(paragraph, width=96, break_on_hyphens=False)
        for paragraph in docstring.split("\n")
    )
    return "".join(lines[:header]) + f'"""{text}\n"""\n\n' + "".join(lines[header:])


def _stages(migration: Migration, position: int) -> list[tuple[Migration, str]]:
    """The expand migration (when anything is left in it), one backfill per column, and the
    contract migration, with provisional names, and the name each gets after its number."""
    app_label = migration.app_label
    expand_ops, contract_ops, targets, added = [], [], [], set()
    conversions = []
    for op in migration.operations:
        if converting(op):
            temporary = f"{op.name}_new"
            expand_ops.append(AddField(op.model_name, temporary, _temporary(op.field)))
            conversions.append((op.model_name, op.name, temporary, op.convert_from, op.field))
            contract_ops += [
                RemoveField(op.model_name, op.name),
                RenameField(op.model_name, temporary, op.name),
                AlterField(op.model_name, op.name, op.field),
            ]
            continue
        if not marked(op):
            expand_ops.append(op)
            continue
        final = _without_default(op.field)
        targets.append((op.model_name, op.name, final))
        contract = AlterField(op.model_name, op.name, final)
        if isinstance(op, AddField):
            contract.previous_field = _nullable(final)
            expand_ops.append(AddField(op.model_name, op.name, contract.previous_field))
            added.add(f"{model_label(app_label, op.model_name)}.{op.name}")
        contract_ops.append(contract)
    stages: list[tuple[Migration, str]] = []
    previous = list(migration.dependencies)
    columns = ", ".join(
        [f"{app_label}.{model_label(app_label, m)}.{f}" for m, f, _ in targets]
        + [f"{app_label}.{model_label(app_label, m)}.{f}" for m, f, *_ in conversions]
    )
    later = f"__contract_{position}"
    if expand_ops:
        expand = Migration(f"__expand_{position}", app_label)
        expand.operations = expand_ops
        expand.dependencies = previous
        expand.initial = migration.initial
        expand.plan_note = lambda names, app, later=later: (
            f"Stage 1 of expand / backfill / contract for {columns}: the new column is added "
            "nullable (beside the old one, for a change of type), so the code still running "
            "keeps inserting rows.\n"
            "Deploy it with, or before, the code that writes the new column; the data migration "
            f"runs next, and {app}.{names[(app, later)]} completes the change once every row "
            "has a value."
        )
        stages.append((expand, _suffix(migration.name)))
        previous = [(app_label, expand.name)]
    for model_name, field_name, final in targets:
        column = f"{model_label(app_label, model_name)}.{field_name}"
        _require_walkable(app_label, model_name, column)
        stub = Migration(f"__backfill_{position}_{model_name}_{field_name}", app_label)
        stub.dependencies = previous
        stub.backfill_stub = BackfillStub(
            app_label=app_label,
            name="",
            model_name=model_name,
            field_name=field_name,
            field=final,
            dependencies=[],
            summary=f"Backfill {app_label}.{column}, in batches: stage 2 of expand / backfill "
            "/ contract.",
            stages=_stage_lines(column, column in added),
            backwards_doc="Nothing to undo: the values stay (reverting the expand stage drops "
            "the column)."
            if column in added
            else "Nothing to undo: the rows keep their values (they were NULL before).",
        )
        stages.append((stub, f"backfill_{model_name}_{field_name}"))
        previous = [(app_label, stub.name)]
    for model_name, field_name, temporary, old, new in conversions:
        column = f"{model_label(app_label, model_name)}.{field_name}"
        _require_walkable(app_label, model_name, column)
        stub = Migration(f"__convert_{position}_{model_name}_{field_name}", app_label)
        stub.dependencies = previous
        stub.convert_stub = ConvertStub(
            app_label=app_label,
            name="",
            model_name=model_name,
            old_name=field_name,
            new_name=temporary,
            old_field=old,
            new_field=new,
            dependencies=[],
            stages=[
                f"1. The expand migration before this one adds {column}_new, the new column, "
                "beside the old one: deploy it with the code that writes both.",
                f"2. This migration fills {column}_new from {column} with convert(), in short "
                "batches.",
                f"3. The next migration drops the old column and renames {field_name}_new to "
                f"{field_name}: deploy it once this one has run on every database.",
            ],
        )
        stages.append((stub, f"convert_{model_name}_{field_name}"))
        previous = [(app_label, stub.name)]
    contract = Migration(later, app_label)
    contract.operations = contract_ops
    contract.dependencies = previous
    contract.plan_note = lambda names, app: (
        f"Stage 3 of expand / backfill / contract for {columns}: the column becomes NOT NULL "
        "(for a change of type: the old column is dropped and the new one takes its name).\n"
        "Deploy it once the data migration before it has run on every database and no code "
        "writes NULL into the column; its checks.sql finds the rows still without a value."
    )
    parts = [f"{model}_{field_name}_not_null" for model, field_name, _ in targets] + [
        f"{model}_{field_name}_swap" for model, field_name, *_ in conversions
    ]
    stages.append((contract, "_".join(parts)[:80]))
    return stages


def _require_walkable(app_label: str, model_name: str, column: str) -> None:
    """A backfill walks the table by ranges of a single-column primary key."""
    try:
        pk = django_apps.get_model(app_label, model_name)._meta.pk
    except LookupError:
        return
    if pk is None or not getattr(pk, "column", None):
        raise MigrationStudioError(
            f"{app_label}.{column} cannot be backfilled in batches: the model has no "
            "single-column primary key to walk the table by. Nothing was written; run "
            "makesafemigration without --noinput and choose a one-off default, or give the "
            "field a default in models.py."
        )


def _stage_lines(column: str, added: bool) -> list[str]:
    first = (
        f"1. The expand migration before this one adds {column} nullable: deploy it with, or "
        "before, the code that writes the column."
        if added
        else f"1. {column} is nullable before this migration; the code that writes it is "
        "deployed first."
    )
    return [
        first,
        "2. This migration gives every row without a value the value of new_value(), in short "
        "batches.",
        f"3. The next migration makes {column} NOT NULL: deploy it once this one has run on "
        "every database (its checks.sql proves no row is left without a value).",
    ]


def _temporary(field_: models.Field) -> models.Field:
    """The new column while both exist: nullable, its own column name, no reverse accessor."""
    return _rebuilt(
        field_,
        drop=("db_column", "default"),
        null=True,
        **({"related_name": "+"} if field_.is_relation else {}),
    )


def _nullable(field_: models.Field) -> models.Field:
    return _rebuilt(field_, null=True)


def _without_default(field_: models.Field) -> models.Field:
    return _rebuilt(field_, drop=("default",))


def _rebuilt(field_: models.Field, drop: tuple[str, ...] = (), **changes: Any) -> models.Field:
    """A new field like ``field_``, without the options in ``drop`` and with ``changes``."""
    _name, _path, args, kwargs = field_.deconstruct()
    for option in drop:
        kwargs.pop(option, None)
    return type(field_)(*args, **{**kwargs, **changes})


def _number(name: str) -> int | None:
    match = re.match(r"^(\d+)_", name)
    return int(match.group(1)) if match else None


def _suffix(name: str) -> str:
    return re.sub(r"^\d+_", "", name)
