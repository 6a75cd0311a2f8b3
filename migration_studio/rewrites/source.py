"""Editing a model's definition in its source file: one keyword argument added to a field
(``db_column="..."``) or one option to the model's ``class Meta`` (``db_table = "..."``).

The class and the field are found with :mod:`ast`, never by searching the text; an edit is
refused (:class:`SourceEditError`, saying why) whenever the definition is not exactly one
assignment of a field class in the model's own class body. The edited text is parsed again
before it is returned, and :func:`write` replaces the file atomically, only if it is unchanged
since it was read.
"""

from __future__ import annotations

import ast
import inspect
import json
import sysconfig
from pathlib import Path
from typing import Any

from ..exceptions import PackageSourceError, SourceEditError
from ..files import write_text_atomic


def model_file(model: type) -> Path:
    """The file defining ``model`` (a model class from the app registry), refused when it is
    part of an installed package (a third-party app): that is not the project's source."""
    try:
        name = inspect.getsourcefile(model)
    except TypeError:
        name = None
    if not name or not Path(name).is_file():
        raise SourceEditError(f"the source file of {model.__name__} cannot be found")
    path = Path(name)
    if installed(path):
        raise PackageSourceError(
            f"{model.__name__} is defined in an installed package ({path}), which is never edited"
        )
    return path


def installed(path: Path) -> bool:
    """``path`` is in a directory of installed packages (site-packages, dist-packages)."""
    resolved = path.resolve()
    if {"site-packages", "dist-packages"} & set(resolved.parts):
        return True
    roots = {sysconfig.get_path(scheme) for scheme in ("purelib", "platlib", "stdlib")}
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots if root)


def add_db_column(text: str, class_name: str, field_name: str, column: str) -> tuple[str, int]:
    """``text`` with ``db_column=<column>`` added to the call defining ``field_name`` in the
    class ``class_name``, and the line of the added argument."""
    call = _field_call(text, class_name, field_name)
    edited = _checked(_with_keyword(text, call, f"db_column={json.dumps(column)}"), class_name)
    # The argument must have landed in the call, not in a parenthesised argument's expression.
    after = _field_call(edited, class_name, field_name, allow_db_column=True)
    keywords = {k.arg: k.value for k in after.keywords}
    value = keywords.get("db_column")
    if (
        not isinstance(value, ast.Constant)
        or value.value != column
        or len(after.args) != len(call.args)
        or len(after.keywords) != len(call.keywords) + 1
    ):
        raise SourceEditError(f"db_column cannot be added to the definition of {field_name}")
    return edited, line_of(edited, class_name, field_name)


def _with_keyword(text: str, call: ast.Call, added: str) -> str:
    """``text`` with the keyword argument ``added`` last in ``call``."""
    offsets = _Offsets(text)
    close = offsets.at(call.end_lineno, call.end_col_offset) - 1  # type: ignore[arg-type]
    arguments = [*call.args, *call.keywords]
    if not arguments:
        return text[:close] + added + text[close:]
    last = max(arguments, key=lambda node: (node.end_lineno, node.end_col_offset))
    end = offsets.at(last.end_lineno, last.end_col_offset)  # type: ignore[arg-type]
    while text[end:close].lstrip().startswith(")"):  # f(a=(1)): the argument's own parentheses
        end = text.index(")", end) + 1
    after_last = text[end:close]
    if not after_last.lstrip().startswith(","):
        return text[:end] + f", {added}" + text[end:]
    comma = end + after_last.index(",")
    if "\n" not in text[comma:close]:  # f(a=1,) on one line
        edited = text[: comma + 1] + f" {added}," + text[comma + 1 :]
        return edited
    # One argument a line, with a trailing comma: a line of its own, indented like the last.
    line_end = text.index("\n", comma)
    indent = _indent(text, offsets.at(last.lineno, 0))
    edited = text[:line_end] + f"\n{indent}{added}," + text[line_end:]
    return edited


def add_db_table(text: str, class_name: str, table: str) -> tuple[str, int]:
    """``text`` with ``db_table = <table>`` in the ``class Meta`` of ``class_name`` (a ``class
    Meta`` made for it when there is none), and the line of the added option."""
    model = _model_class(text, class_name)
    added = f"db_table = {json.dumps(table)}"
    offsets = _Offsets(text)
    metas = [node for node in model.body if isinstance(node, ast.ClassDef) and node.name == "Meta"]
    if len(metas) > 1:
        raise SourceEditError(f"{class_name} has more than one class Meta")
    if metas:
        meta = metas[0]
        if _assigned(meta, "db_table"):
            raise SourceEditError(f"the class Meta of {class_name} already sets db_table")
        last = meta.body[-1]
        if last.lineno == meta.lineno:
            raise SourceEditError(f"the class Meta of {class_name} is written on one line")
        indent = _indent(text, offsets.at(meta.body[0].lineno, 0))
        line_end = _line_end(text, offsets.at(last.end_lineno, 0))  # type: ignore[arg-type]
        edited = text[:line_end] + f"\n{indent}{added}" + text[line_end:]
        return _placed(edited, class_name)
    if model.body[0].lineno == model.lineno:
        raise SourceEditError(f"{class_name} is written on one line")
    indent = _indent(text, offsets.at(model.body[0].lineno, 0))
    meta_text = f"{indent}class Meta:\n{indent}    {added}\n"
    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    first_function = next((n for n in model.body if isinstance(n, functions)), None)
    before = [n for n in model.body if first_function is None or n.lineno < first_function.lineno]
    if before:
        # After the fields, before the methods, a blank line before it.
        line_end = _line_end(text, offsets.at(before[-1].end_lineno, 0))  # type: ignore[arg-type]
        edited = text[:line_end] + "\n\n" + meta_text.rstrip("\n") + text[line_end:]
        return _placed(edited, class_name)
    assert first_function is not None
    start_line = min(
        [first_function.lineno] + [d.lineno for d in getattr(first_function, "decorator_list", [])]
    )
    start = offsets.at(start_line, 0)
    edited = text[:start] + meta_text + "\n" + text[start:]
    return _placed(edited, class_name)


def line_of(text: str, class_name: str, field_name: str | None = None) -> int:
    """The line of ``db_column=`` in the definition of ``field_name`` in ``class_name`` or, with
    no field, of ``db_table = `` in its ``class Meta`` (0 when there is none)."""
    model = _model_class(text, class_name)
    if field_name is not None:
        calls = [v for v in _assigned(model, field_name) if isinstance(v, ast.Call)]
        keywords = [k for call in calls for k in call.keywords if k.arg == "db_column"]
        return keywords[0].lineno if keywords else 0
    for meta in model.body:
        if isinstance(meta, ast.ClassDef) and meta.name == "Meta":
            for node in meta.body:
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and _assigned_here(
                    node, "db_table"
                ):
                    return node.lineno
    return 0


def write(path: Path, before: str, after: str) -> None:
    """Replace the file's text ``before`` with ``after``, refused if it is not ``before`` any
    more (edited meanwhile)."""
    if path.read_text(encoding="utf-8") != before:
        raise SourceEditError(f"{path} changed while the migration was being made; not edited")
    write_text_atomic(path, after)


def _field_call(
    text: str, class_name: str, field_name: str, allow_db_column: bool = False
) -> ast.Call:
    """The call assigned to ``field_name`` in the body of ``class_name``."""
    model = _model_class(text, class_name)
    assignments = _assigned(model, field_name)
    if not assignments:
        raise SourceEditError(
            f"{field_name} is not assigned in the body of {class_name} (inherited from a base "
            "class or a mixin, or added some other way)"
        )
    if len(assignments) > 1:
        raise SourceEditError(f"{field_name} is assigned more than once in {class_name}")
    value = assignments[0]
    if not isinstance(value, ast.Call) or not _names_a_field_class(value.func):
        raise SourceEditError(
            f"{class_name}.{field_name} is not defined by a call of a field class"
        )
    for keyword in value.keywords:
        if keyword.arg is None:
            raise SourceEditError(f"{class_name}.{field_name} is defined with **kwargs")
        if keyword.arg == "db_column" and not allow_db_column:
            raise SourceEditError(f"{class_name}.{field_name} already sets db_column")
    return value


def _names_a_field_class(func: ast.expr) -> bool:
    """``models.CharField``, ``CharField``, ``fields.JSONField``: a name ending in "Field" (a
    helper function returning a field could not take the argument)."""
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name.endswith(("Field", "Key"))


def _model_class(text: str, class_name: str) -> ast.ClassDef:
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise SourceEditError(f"the file does not parse ({error.msg})") from None
    found = [
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name
    ]
    if len(found) != 1:
        raise SourceEditError(
            f"the file defines the class {class_name} {len(found)} times at its top level"
        )
    return found[0]


def _assigned(body_owner: ast.ClassDef, name: str) -> list[Any]:
    """The values assigned to ``name`` in the class body (``x = ...`` and ``x: T = ...``)."""
    return [
        node.value
        for node in body_owner.body
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _assigned_here(node, name)
    ]


def _assigned_here(node: ast.Assign | ast.AnnAssign, name: str) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return any(isinstance(target, ast.Name) and target.id == name for target in targets)


def _placed(edited: str, class_name: str) -> tuple[str, int]:
    """The edited text, checked, and the line of its ``db_table`` option."""
    edited = _checked(edited, class_name)
    return edited, line_of(edited, class_name)


def _checked(text: str, class_name: str) -> str:
    try:
        ast.parse(text)
    except SyntaxError as error:
        raise SourceEditError(
            f"editing {class_name} would not give valid Python ({error.msg})"
        ) from None
    return text


def _indent(text: str, line_start: int) -> str:
    line = text[line_start:].split("\n", 1)[0]
    return line[: len(line) - len(line.lstrip())]


def _line_end(text: str, line_start: int) -> int:
    end = text.find("\n", line_start)
    return len(text) if end < 0 else end


class _Offsets:
    """Character offsets in ``text`` of :mod:`ast` positions (lines from 1, columns in UTF-8
    bytes)."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def at(self, lineno: int, col_offset: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:col_offset].decode())
