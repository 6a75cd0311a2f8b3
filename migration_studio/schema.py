"""A normalised snapshot of a database schema, through Django's introspection, and its diff.

Column order is ignored (``ALTER TABLE ... ADD COLUMN`` then ``DROP COLUMN`` restores a table with
its columns in another order, which is the same schema for every query Django makes).
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

Snapshot = dict[str, dict[str, Any]]


def snapshot(connection: BaseDatabaseWrapper) -> Snapshot:
    """Tables with their columns, constraints and indexes, and sequences, as plain data."""
    introspection = connection.introspection
    tables: Snapshot = {}
    with connection.cursor() as cursor:
        for info in introspection.get_table_list(cursor):
            if info.type != "t":
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
