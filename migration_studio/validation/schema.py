"""A normalised snapshot of a database schema, through Django's introspection, and its diff.

Column order is ignored (``ALTER TABLE ... ADD COLUMN`` then ``DROP COLUMN`` restores a table with
its columns in another order, which is the same schema for every query Django makes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ..sql.text import all_parenthesised_after, where_clause

Snapshot = dict[str, dict[str, Any]]


def snapshot(connection: BaseDatabaseWrapper, only: set[str] | None = None) -> Snapshot:
    """Tables with their columns, constraints and indexes, and sequences, as plain data.

    Constraints and indexes are keyed ``"<kind> <name>"`` (``"index shop_order_status_idx"``,
    ``"foreign key shop_order_customer_id_fk"``): an index and a constraint may share a name. With
    ``only``, the other tables are listed by name alone (an empty entry), which is enough to see a
    table appear or disappear, and much faster on large schemas.
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
            if connection.vendor == "postgresql":
                # The driver's type code is the type's OID: a type the migration creates (an
                # enum, a domain) has another OID each time it is created, under the same name.
                for name, type_name in _postgresql_column_types(cursor, info.name).items():
                    if name in columns:
                        columns[name]["type"] = type_name
                constraints = _postgresql_constraints(cursor, info.name)
            else:
                constraints = {}
                for name, details in introspection.get_constraints(cursor, info.name).items():
                    entry = _constraint(details)
                    constraints[f"{entry['kind']} {name}"] = entry
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


def _kind(details: dict[str, Any]) -> str:
    if details.get("primary_key"):
        return "primary key"
    if details.get("foreign_key"):
        return "foreign key"
    if details.get("check"):
        return "check"
    if details.get("index"):
        return "unique index" if details.get("unique") else "index"
    return "unique" if details.get("unique") else "constraint"


def _constraint(details: dict[str, Any]) -> dict[str, Any]:
    keys = ("columns", "primary_key", "unique", "foreign_key", "check", "index", "type", "orders")
    data = {"kind": _kind(details), **{key: details.get(key) for key in keys}}
    if data["foreign_key"]:
        data["foreign_key"] = list(data["foreign_key"])
    data["columns"] = list(data["columns"] or [])
    return data


#: pg_constraint.contype -> kind (NOT NULL constraints are the columns' nullability).
_PG_KINDS = {"p": "primary key", "u": "unique", "f": "foreign key", "c": "check", "x": "exclusion"}


def _postgresql_constraints(cursor: Any, table: str) -> dict[str, dict[str, Any]]:
    """Constraints and indexes with their definitions as the server prints them, the names left
    out of the definitions (Django's introspection hides an index named like a constraint)."""
    cursor.execute(
        """
        SELECT c.conname, c.contype, pg_get_constraintdef(c.oid),
               array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(number, position)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.number
                     ORDER BY k.position)
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE t.relname = %s AND pg_table_is_visible(t.oid)
        """,
        [table],
    )
    found: dict[str, dict[str, Any]] = {}
    for name, contype, definition, columns in cursor.fetchall():
        if contype in _PG_KINDS:
            kind = _PG_KINDS[contype]
            found[f"{kind} {name}"] = {"kind": kind, "columns": columns, "definition": definition}
    # Indexes, except those that implement a constraint (primary key, unique, exclusion).
    cursor.execute(
        """
        SELECT i.relname, x.indisunique,
               replace(pg_get_indexdef(x.indexrelid),
                       ' ' || quote_ident(i.relname) || ' ON ', ' ON '),
               array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(number, position)
                     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.number
                     ORDER BY k.position)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = %s AND pg_table_is_visible(t.oid) AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid
            AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x'))
        """,
        [table],
    )
    for name, unique, definition, columns in cursor.fetchall():
        kind = "unique index" if unique else "index"
        found[f"{kind} {name}"] = {"kind": kind, "columns": columns, "definition": definition}
    return found


def _postgresql_column_types(cursor: Any, table: str) -> dict[str, str]:
    """Each column's type as PostgreSQL names it (``character varying(20)``, ``job_status``)."""
    cursor.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid
        WHERE t.relname = %s AND pg_table_is_visible(t.oid) AND a.attnum > 0
        AND NOT a.attisdropped
        """,
        [table],
    )
    return dict(cursor.fetchall())


@dataclass
class SchemaDiff:
    """How a schema differs from another one."""

    #: Tables, columns, constraints or indexes missing, left behind or changed.
    differences: list[str] = field(default_factory=list)
    #: Constraints and indexes that are the same but for their name (Django's rollback recreates
    #: some under the name it generates, not the one they had).
    renamed: list[str] = field(default_factory=list)


def compare(before: Snapshot, after: Snapshot) -> SchemaDiff:
    """Readable differences between two snapshots, name-only differences apart."""
    result = SchemaDiff()
    lines = result.differences
    for table in sorted(set(before) | set(after)):
        if table not in after:
            lines.append(f"- table {table} (missing)")
            continue
        if table not in before:
            lines.append(f"+ table {table} (left behind)")
            continue
        old, new = before[table], after[table]
        for name in sorted(set(old["columns"]) | set(new["columns"])):
            lines.extend(_entry_diff(table, f"column {name}", old["columns"], new["columns"], name))
        renamed = _renamed(old["constraints"], new["constraints"])
        for old_key, new_key in renamed.items():
            kind = old["constraints"][old_key].get("kind") or "constraint"
            result.renamed.append(
                f"= {table}: {kind} {_name(old_key, kind)} is now "
                f"{_name(new_key, kind)} (same definition, another name)"
            )
        paired = set(renamed) | set(renamed.values())
        for key in sorted((set(old["constraints"]) | set(new["constraints"])) - paired):
            lines.extend(_entry_diff(table, key, old["constraints"], new["constraints"], key))
        if old["sequences"] != new["sequences"]:
            lines.append(f"~ {table}: sequences {old['sequences']} -> {new['sequences']}")
    return result


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """Every difference between two snapshots, name-only ones included; empty when the same."""
    result = compare(before, after)
    return result.differences + result.renamed


def _entry_diff(
    table: str, label: str, old: dict[str, Any], new: dict[str, Any], key: str
) -> list[str]:
    if key not in new:
        return [f"- {table}: {label} (missing)"]
    if key not in old:
        return [f"+ {table}: {label} (left behind)"]
    if old[key] == new[key]:
        return []
    changed = {
        name: (old[key].get(name), new[key].get(name))
        for name in new[key]
        if old[key].get(name) != new[key].get(name)
    }
    detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
    return [f"~ {table}: {label}: {detail}"]


def _renamed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """Missing entries paired with left-behind entries of the same kind and definition."""
    extra = [key for key in sorted(new) if key not in old]
    pairs: dict[str, str] = {}
    for key in sorted(old):
        if key in new:
            continue
        match = next((e for e in extra if new[e] == old[key] and e not in pairs.values()), None)
        if match is not None:
            pairs[key] = match
    return pairs


def _name(key: str, kind: str) -> str:
    return key.removeprefix(f"{kind} ")


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
        columns_of = [c for c, _ in keys]
        entry = {
            "kind": {"pk": "primary key", "u": "unique"}.get(origin)
            or ("unique index" if unique else "index"),
            "columns": columns_of,
            "orders": [d for _, d in keys],
            "unique": bool(unique),
            "partial": _partial_condition(cursor, index) if partial else None,
        }
        # SQLite numbers its own indexes by position: identify them by what they cover.
        label = index if origin == "c" else f"({', '.join(columns_of)})"
        constraints[f"{entry['kind']} {label}"] = entry
    for row in _pragma(cursor, "foreign_key_list", name):
        constraints[f"foreign key ({row[3]} -> {row[2]}.{row[4]})"] = {
            "kind": "foreign key",
            "columns": [row[3]],
            "references": f"{row[2]}.{row[4]}",
            "on_delete": row[6],
        }
    for check in _checks(sql):
        constraints[f"check ({check})"] = {"kind": "check", "expression": check}
    return {"columns": columns, "constraints": constraints, "sequences": []}


def _partial_condition(cursor: Any, index: str) -> str:
    """The WHERE condition of a partial index, whitespace-normalised."""
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s", [index])
    row = cursor.fetchone()
    sql = (row[0] or "") if row else ""
    where = where_clause(sql)
    return " ".join(where.split()) if where is not None else sql


def _checks(sql: str) -> list[str]:
    """The CHECK expressions of a CREATE TABLE statement, whitespace-normalised."""
    return sorted(" ".join(check.split()) for check in all_parenthesised_after(sql, "CHECK"))
