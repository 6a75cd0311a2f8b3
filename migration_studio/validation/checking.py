"""What validating a bundle and the release gate share: the tables a bundle can change, whether it
changes data itself, and how a check of ``checks.sql`` is counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..bundle import sqlfile
from ..bundle.checksfile import Check
from ..bundle.model import Bundle
from ..sql.reader import parse_all
from ..sql.text import fills_rows, quoted_identifiers

#: Violating rows shown per check.
SAMPLE_LIMIT = 5


def touched_tables(bundle: Bundle, path: Path | None = None) -> set[str]:
    """Every table the bundle's SQL or operations name: the only ones it can change.

    With the bundle's directory, its SQL files are read too: an edited up.sql may change a table
    bundle.json does not name (its hash updated), which a comparison of schemas must see."""
    tables: set[str] = set()
    texts: list[str] = []
    for name in ("up.sql", "down.sql") if path is not None else ():
        file = path / name
        if file.exists():
            entries = sqlfile.read(file.read_text(encoding="utf-8"), bundle.vendor)
            texts.extend(e.sql for e in entries if not isinstance(e, sqlfile.Marker))
    for op in bundle.operations:
        facts = op.operation_facts
        tables.update(t for t in (facts.table_before, facts.table_after) if t)
        tables.update(facts.referenced_by)
        texts.extend(op.all_forward_sql + op.all_reverse_sql)
    for text in texts:
        for statement in parse_all(text):
            for name in (statement.table, *statement.references):
                if name:
                    tables.add(name.removeprefix("new__"))
            tables.update(a.references for a in statement.actions if a.references)
    return tables


def changes_data(bundle: Bundle) -> bool:
    """The migration runs Python or SQL of its own, or backfills rows (UPDATE)."""
    return any(
        (op.operation == "RunPython" and not op.expressible)
        or op.operation == "RunSQL"
        or any(fills_rows(s) for s in op.all_forward_sql)
        for op in bundle.operations
    )


def identifiers_of(schema: dict[str, Any]) -> set[str]:
    """Every table and column name of a schema snapshot."""
    names = set(schema)
    for table in schema.values():
        names.update(table["columns"])
    return names


def answerable(check: Check, known: set[str]) -> bool:
    """The check reads only tables and columns that exist already (it can run before up.sql)."""
    return quoted_identifiers(check.sql) <= known


def violations(cursor: Any, check: Check) -> tuple[int, list[list[Any]]]:
    """How many rows violate ``check``, and the first few of them."""
    # (on a line of its own: the query may end with a -- comment)
    cursor.execute(f"SELECT COUNT(*) FROM ({check.sql}\n) violations")
    count = int(cursor.fetchone()[0])
    sample: list[list[Any]] = []
    if count:
        cursor.execute(f"SELECT * FROM ({check.sql}\n) violations LIMIT {SAMPLE_LIMIT}")
        sample = [list(row) for row in cursor.fetchall()]
    return count, sample
