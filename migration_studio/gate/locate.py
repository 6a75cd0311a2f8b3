"""Where each operation of a migration file starts, for annotations that point at it."""

from __future__ import annotations

import ast
from pathlib import Path


def operation_lines(path: Path) -> list[int]:
    """The line of each element of the ``operations`` list of the file's Migration class, in
    order; empty when the file cannot be read or holds no literal list."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                targets = (
                    statement.targets
                    if isinstance(statement, ast.Assign)
                    else [statement.target]
                    if isinstance(statement, ast.AnnAssign)
                    else []
                )
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if "operations" in names and isinstance(statement.value, ast.List):
                    return [element.lineno for element in statement.value.elts]
    return []


def line_of(lines: list[int], operation: int | None) -> int | None:
    if operation is None or not 0 <= operation < len(lines):
        return None
    return lines[operation]
