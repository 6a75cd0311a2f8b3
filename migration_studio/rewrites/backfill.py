"""The backfill stub: a data migration that fills a column in batches of consecutive primary
keys, each committed on its own, with one marked place for the value
(``templates/migration_studio/stubs/backfill.py-tpl``)."""

from __future__ import annotations

import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.db import models
from django.db.migrations import Migration
from django.db.migrations.loader import MigrationLoader
from django.template import Context, Engine

from .. import conf
from ..exceptions import MigrationStudioError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@dataclass
class BackfillStub:
    app_label: str
    name: str
    model_name: str
    field_name: str
    #: The field as it ends (NOT NULL): what the value must fit.
    field: models.Field
    dependencies: list[tuple[str, str]]
    summary: str
    #: The plan's stages, one line each, for the module's docstring.
    stages: list[str] = field(default_factory=list)
    backwards_doc: str = (
        "Nothing to undo: the values stay (reverting the earlier stage drops them)."
    )

    @property
    def label(self) -> str:
        return f"{self.app_label}.{model_label(self.app_label, self.model_name)}.{self.field_name}"


def model_label(app_label: str, model_name: str) -> str:
    """The model's class name ("Order" for "order") when the app has it, else ``model_name``."""
    try:
        return apps.get_model(app_label, model_name)._meta.object_name
    except LookupError:
        return model_name


def value_code(stub: BackfillStub) -> tuple[str, str, str]:
    """(the body of new_value(), what it gives as generated, the docstring's note)."""
    field_ = stub.field
    if isinstance(field_, models.BooleanField):
        return "return False", "gives every row False", "False."
    if isinstance(field_, models.IntegerField | models.FloatField | models.DecimalField):
        return "return 0", "gives every row 0", "0."
    if isinstance(field_, models.DateTimeField):
        return "return functions.Now()", "gives every row the time it runs", "the current time."
    if isinstance(field_, models.DateField):
        return (
            "return functions.TruncDate(functions.Now())",
            "gives every row the day it runs",
            "the current date.",
        )
    if isinstance(field_, models.JSONField):
        return "return {}", "gives every row an empty object", "an empty JSON object."
    if field_.empty_strings_allowed and not field_.is_relation:
        return 'return ""', "gives every row an empty string", "an empty string."
    message = (
        f"Decide the value of {stub.label} for the rows that have none: edit new_value() in "
        f"{stub.app_label}/migrations/{stub.name}.py."
    )
    return (
        f"raise NotImplementedError({message!r})",
        "stops with a message until you write it (no value fits every "
        f"{type(field_).__name__} by itself)",
        "nothing: it stops with a message until you write it.",
    )


def render(stub: BackfillStub) -> str:
    code, as_generated, comment = value_code(stub)
    stages = [
        textwrap.fill(line, width=99, subsequent_indent="   ", break_on_hyphens=False)
        for line in stub.stages
    ]
    engine = Engine(dirs=[str(TEMPLATES_DIR)], autoescape=False)
    template = engine.get_template("migration_studio/stubs/backfill.py-tpl")
    return template.render(
        Context(
            {
                "summary": textwrap.fill(stub.summary, width=96, break_on_hyphens=False),
                "stages": stages,
                "as_generated": as_generated,
                "value_comment": comment,
                "value_code": code,
                "batch_seconds": repr(float(conf.get("BACKFILL_BATCH_SECONDS"))),
                "app_label": stub.app_label,
                "model_name": stub.model_name,
                "model_label": f"{stub.app_label}.{model_label(stub.app_label, stub.model_name)}",
                "field_name": stub.field_name,
                "backwards_doc": stub.backwards_doc,
                "dependencies": stub.dependencies,
            }
        )
    )


def load(app_label: str, name: str, source: str) -> Migration:
    """The Migration of ``source`` (not on disk yet), its module named as it will be once
    written. The module is not registered in ``sys.modules``: importing the migration later
    reads the file."""
    package, _ = MigrationLoader.migrations_module(app_label)
    module = types.ModuleType(f"{package}.{name}")
    module.__file__ = f"<{app_label}/migrations/{name}.py>"
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # our own rendered text
    return module.Migration(name, app_label)


def render_data(
    app_label: str, name: str, dependencies: list[tuple[str, str]], model_names: list[str]
) -> str:
    """A data migration (``makesafemigration --data``) walking each model's table in batches,
    with the rows to change and the change left to decide (as generated it changes nothing)."""
    models_ = []
    for model_name in model_names:
        model = apps.get_model(app_label, model_name)
        pk = model._meta.pk
        if pk is None or not getattr(pk, "column", None):
            raise MigrationStudioError(
                f"{model._meta.label} cannot be changed in batches: it has no single-column "
                "primary key to walk the table by. Nothing was written."
            )
        models_.append(
            {
                "app_label": app_label,
                "model_name": model._meta.model_name,
                "function": model._meta.model_name,
                "label": model._meta.label,
            }
        )
    labels = ", ".join(m["label"] for m in models_)
    engine = Engine(dirs=[str(TEMPLATES_DIR)], autoescape=False)
    return engine.get_template("migration_studio/stubs/data.py-tpl").render(
        Context(
            {
                "summary": textwrap.fill(
                    f"{name}: a data migration on {labels}, in batches.", width=96
                ),
                "models": models_,
                "models_label": labels,
                "app_label": app_label,
                "name": name,
                "batch_seconds": repr(float(conf.get("BACKFILL_BATCH_SECONDS"))),
                "dependencies": dependencies,
            }
        )
    )


@dataclass
class ConvertStub:
    """The conversion of a column to another type: the new column (``new_name``) is filled from
    the old one (``old_name``) by a function the user decides."""

    app_label: str
    name: str
    model_name: str
    old_name: str
    new_name: str
    old_field: models.Field
    new_field: models.Field
    dependencies: list[tuple[str, str]]
    stages: list[str] = field(default_factory=list)


_CONVERSIONS: list[tuple[type, str, str, str]] = [
    (models.BooleanField, "return bool(value)", "bool(value)", "gives bool(old value)"),
    (models.IntegerField, "return int(value)", "int(value)", "gives int(old value)"),
    (models.FloatField, "return float(value)", "float(value)", "gives float(old value)"),
    (
        models.DecimalField,
        "return decimal.Decimal(str(value))",
        "Decimal(str(value))",
        "gives Decimal(str(old value))",
    ),
]


def convert_code(stub: ConvertStub) -> tuple[str, str, str]:
    """(the body of convert(), the docstring's note, what it does as generated)."""
    new = stub.new_field
    if not new.is_relation:
        for kind, code, note, does in _CONVERSIONS:
            if isinstance(new, kind):
                return code, f"{note}.", does
        if new.empty_strings_allowed:
            return "return str(value)", "str(value).", "gives str(old value)"
    label = f"{stub.app_label}.{model_label(stub.app_label, stub.model_name)}.{stub.old_name}"
    message = (
        f"Decide how to convert {label} ({type(stub.old_field).__name__} -> "
        f"{type(new).__name__}): edit convert() in {stub.app_label}/migrations/{stub.name}.py."
    )
    return (
        f"raise NotImplementedError({message!r})",
        "nothing: it stops with a message until you write it.",
        f"stops with a message until you write it (no conversion to {type(new).__name__} "
        "fits every value by itself)",
    )


def render_convert(stub: ConvertStub) -> str:
    code, note, does = convert_code(stub)
    model = model_label(stub.app_label, stub.model_name)
    label = f"{stub.app_label}.{model}.{stub.old_name}"
    engine = Engine(dirs=[str(TEMPLATES_DIR)], autoescape=False)
    return engine.get_template("migration_studio/stubs/convert.py-tpl").render(
        Context(
            {
                "summary": textwrap.fill(
                    f"Convert {label} to {type(stub.new_field).__name__}, in batches: stage 2 of "
                    "expand / convert / contract.",
                    width=96,
                ),
                "stages": [
                    textwrap.fill(line, width=99, subsequent_indent="   ") for line in stub.stages
                ],
                "as_generated": does,
                "value_comment": note,
                "value_code": code,
                "batch_seconds": repr(float(conf.get("BACKFILL_BATCH_SECONDS"))),
                "app_label": stub.app_label,
                "model_name": stub.model_name,
                "model_label": f"{stub.app_label}.{model}",
                "label": label,
                "old_name": stub.old_name,
                "new_name": stub.new_name,
                "old_type": type(stub.old_field).__name__,
                "new_type": type(stub.new_field).__name__,
                "dependencies": stub.dependencies,
            }
        )
    )
