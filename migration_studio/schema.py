"""A normalised snapshot of a database schema, through Django's introspection, and its diff.

Column order is ignored (``ALTER TABLE ... ADD COLUMN`` then ``DROP COLUMN`` restores a table with
its columns in another order, which is the same schema for every query Django makes).
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

Snapshot = dict[str, dict[str, Any]]


def snapshot(connection: BaseDatabaseWrapper, only: set[str] | None = None) -> Snapshot:
    """Tables with their columns, constraints and indexes, and sequences, as plain data.

    With ``only``, the other tables are listed by name alone (an empty entry), which is enough to
    see a table appear or disappear, and much faster on large schemas.
    """
    introspection = connection.introspection
    tables: Snapshot = {}
    with connection.cursor() as cursor:
        for info in introspection.get_table_list(cursor):
            if info.type != "t":
                continue
            if only is not None and info.name not in only:
                tables[info.name] = {"columns": {}, "constraints": {}, "sequences": []}
                continue
            columns = {
                column.name: _column(column)
                for column in introspection.get_table_description(cursor, info.name)
            }
            constraints = {
                name: _constraint(details)
                for name, details in introspection.get_constraints(cursor, info.name).items()
            }
            sequences = sorted(
                (s.get("name") or "", s.get("column") or "")
                for s in introspection.get_sequences(cursor, info.name)
            )
            tables[info.name] = {
                "columns": columns,
                "constraints": constraints,
                "sequences": sequences,
            }
    return tables


def _column(column: Any) -> dict[str, Any]:
    data = {
        "type": str(column.type_code),
        "size": column.internal_size,
        "precision": column.precision,
        "scale": column.scale,
        "null": bool(column.null_ok),
        "default": column.default,
        "collation": getattr(column, "collation", None),
    }
    return data


def _constraint(details: dict[str, Any]) -> dict[str, Any]:
    keys = ("columns", "primary_key", "unique", "foreign_key", "check", "index", "type", "orders")
    data = {key: details.get(key) for key in keys}
    if data["foreign_key"]:
        data["foreign_key"] = list(data["foreign_key"])
    data["columns"] = list(data["columns"] or [])
    return data


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """Readable differences between two snapshots; empty when they are the same schema."""
    lines = []
    for table in sorted(set(before) | set(after)):
        if table not in after:
            lines.append(f"- table {table} (missing)")
            continue
        if table not in before:
            lines.append(f"+ table {table} (left behind)")
            continue
        old, new = before[table], after[table]
        for kind in ("columns", "constraints"):
            for name in sorted(set(old[kind]) | set(new[kind])):
                if name not in new[kind]:
                    lines.append(f"- {table}: {kind[:-1]} {name} (missing)")
                elif name not in old[kind]:
                    lines.append(f"+ {table}: {kind[:-1]} {name} (left behind)")
                elif old[kind][name] != new[kind][name]:
                    changed = {
                        key: (old[kind][name].get(key), new[kind][name].get(key))
                        for key in new[kind][name]
                        if old[kind][name].get(key) != new[kind][name].get(key)
                    }
                    detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
                    lines.append(f"~ {table}: {kind[:-1]} {name}: {detail}")
        if old["sequences"] != new["sequences"]:
            lines.append(f"~ {table}: sequences {old['sequences']} -> {new['sequences']}")
    return lines


def quick_snapshot(connection: BaseDatabaseWrapper, only: set[str] | None = None) -> Snapshot:
    """:func:`snapshot`, read faster where the backend allows (SQLite: PRAGMAs, no SQL parsing).

    The same shape and the same meaning for a diff; entry names differ from :func:`snapshot`'s.
    """
    if connection.vendor != "sqlite":
        return snapshot(connection, only)
    tables: Snapshot = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        for name, sql in cursor.fetchall():
            if only is not None and name not in only:
                tables[name] = {"columns": {}, "constraints": {}, "sequences": []}
                continue
            tables[name] = _sqlite_table(cursor, name, sql or "")
    return tables


def _pragma(cursor: Any, pragma: str, name: str) -> list[tuple]:
    cursor.execute(f'PRAGMA {pragma}("{name.replace(chr(34), chr(34) * 2)}")')
    return list(cursor.fetchall())


def _sqlite_table(cursor: Any, name: str, sql: str) -> dict[str, Any]:
    columns = {
        row[1]: {
            "type": (row[2] or "").lower(),
            "null": not row[3],
            "default": row[4],
            "primary_key": bool(row[5]),
        }
        for row in _pragma(cursor, "table_xinfo", name)
        if row[6] == 0  # not a hidden column
    }
    constraints: dict[str, Any] = {}
    for _, index, unique, origin, partial in _pragma(cursor, "index_list", name):
        keys = [(row[2], bool(row[3])) for row in _pragma(cursor, "index_xinfo", index) if row[5]]
        entry = {
            "columns": [c for c, _ in keys],
            "orders": [d for _, d in keys],
            "unique": bool(unique),
            "partial": bool(partial),
        }
        # SQLite numbers its own indexes by position: identify them by what they cover.
        label = index if origin == "c" else f"{origin}({', '.join(entry['columns'])})"
        constraints[label] = entry
    for row in _pragma(cursor, "foreign_key_list", name):
        constraints[f"fk({row[3]} -> {row[2]}.{row[4]})"] = {"on_delete": row[6]}
    for check in _checks(sql):
        constraints[f"check({check})"] = {}
    return {"columns": columns, "constraints": constraints, "sequences": []}


def _checks(sql: str) -> list[str]:
    """The CHECK expressions of a CREATE TABLE statement, whitespace-normalised."""
    found, upper, start = [], sql.upper(), 0
    while (position := upper.find("CHECK", start)) >= 0:
        start = position + 5
        opening = sql.find("(", start)
        if opening < 0 or sql[start:opening].strip():
            continue
        depth = 0
        for index in range(opening, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[index], 0)
            if depth == 0:
                found.append(" ".join(sql[opening + 1 : index].split()))
                break
    return sorted(found)
