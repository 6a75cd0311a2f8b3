"""The schema objects besides tables that a migration's own SQL creates, and their diff.

A ``RunSQL`` creates functions, triggers, views, types, sequences, schemas or extensions as often
as tables; :mod:`.schema` reads tables (columns, constraints, indexes). Here every other object
of the database is read with its definition as the server prints it, keyed ``"<kind> <name>"``
(``"function public.notify_job()"``, ``"trigger job_notify on procrastinate_jobs"``), so that two
databases that should hold the same objects can be compared.

Objects that belong to an extension are the extension's (``"extension pg_trgm"``, with its
version), not listed one by one. MySQL and MariaDB are not read (the comparison that uses this
runs where DDL can be rolled back).
"""

from __future__ import annotations

import difflib

from django.db.backends.base.base import BaseDatabaseWrapper

Objects = dict[str, str]

#: The schemas of the server itself.
_USER_SCHEMA = """
    {n}.nspname NOT IN ('pg_catalog', 'information_schema')
    AND {n}.nspname NOT LIKE 'pg\\_toast%' AND {n}.nspname NOT LIKE 'pg\\_temp\\_%'
"""


def _not_in_extension(catalog: str, oid: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass "
        f"AND e.objid = {oid} AND e.deptype = 'e')"
    )


#: (kind, query returning (name, definition)) for PostgreSQL.
_POSTGRESQL = [
    (
        "schema",
        f"""SELECT n.nspname, '' FROM pg_namespace n
        WHERE {_USER_SCHEMA.format(n="n")} AND {_not_in_extension("pg_namespace", "n.oid")}""",
    ),
    (
        "extension",
        "SELECT x.extname, x.extversion || ' in ' || n.nspname::text FROM pg_extension x "
        "JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname <> 'plpgsql'",
    ),
    (
        "function",
        # pg_get_functiondef does not print aggregates: their transition function stands in.
        f"""SELECT p.oid::regprocedure::text,
               CASE WHEN p.prokind = 'a'
                    THEN 'aggregate of ' || (SELECT a.aggtransfn::text FROM pg_aggregate a
                                             WHERE a.aggfnoid = p.oid)
                    ELSE pg_get_functiondef(p.oid) END
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {_USER_SCHEMA.format(n="n")} AND {_not_in_extension("pg_proc", "p.oid")}""",
    ),
    (
        "trigger",
        f"""SELECT t.tgname::text || ' on ' || c.oid::regclass::text,
               pg_get_triggerdef(t.oid) || ' (enabled: ' || t.tgenabled::text || ')'
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND {_USER_SCHEMA.format(n="n")}
        AND {_not_in_extension("pg_trigger", "t.oid")}""",
    ),
    (
        "view",
        f"""SELECT c.oid::regclass::text,
               CASE c.relkind WHEN 'm' THEN 'materialized ' ELSE '' END || pg_get_viewdef(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {_USER_SCHEMA.format(n="n")}
        AND {_not_in_extension("pg_class", "c.oid")}""",
    ),
    (
        "sequence",
        f"""SELECT c.oid::regclass::text,
               format('%s start %s increment %s min %s max %s cache %s%s',
                      s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                      s.seqcache, CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END)
        FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_SCHEMA.format(n="n")} AND {_not_in_extension("pg_class", "c.oid")}""",
    ),
    (
        # Tables off the search path (in a schema of their own): the table snapshot lists only
        # the tables Django's introspection sees.
        "table",
        f"""SELECT c.oid::regclass::text,
               (SELECT string_agg(quote_ident(a.attname) || ' '
                                  || format_type(a.atttypid, a.atttypmod)
                                  || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                                  ', ' ORDER BY a.attname)
                FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                AND NOT a.attisdropped)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT pg_table_is_visible(c.oid)
        AND {_USER_SCHEMA.format(n="n")} AND {_not_in_extension("pg_class", "c.oid")}""",
    ),
    (
        "type",
        # Enums (labels in order), domains, composite types and ranges; not the row types of
        # tables, nor array types.
        f"""SELECT format_type(t.oid, NULL), CASE t.typtype
            WHEN 'e' THEN 'enum (' || coalesce((SELECT string_agg(quote_literal(e.enumlabel),
                ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
                || ')'
            WHEN 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod)
                || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                || coalesce(' DEFAULT ' || t.typdefault, '')
                || coalesce((SELECT ' ' || string_agg(pg_get_constraintdef(d.oid), ' '
                    ORDER BY pg_get_constraintdef(d.oid)) FROM pg_constraint d
                    WHERE d.contypid = t.oid), '')
            WHEN 'c' THEN 'composite (' || coalesce((SELECT string_agg(quote_ident(a.attname)
                || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                AND NOT a.attisdropped), '') || ')'
            ELSE 'range of ' || coalesce((SELECT format_type(r.rngsubtype, NULL) FROM pg_range r
                WHERE r.rngtypid = t.oid), '?') END
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype IN ('e', 'd', 'c', 'r') AND {_USER_SCHEMA.format(n="n")}
        AND (t.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = t.typrelid
                                          AND k.relkind = 'c'))
        AND {_not_in_extension("pg_type", "t.oid")}""",
    ),
]


def database_objects(connection: BaseDatabaseWrapper) -> Objects:
    """Every object besides tables on the search path, with its definition (see the module)."""
    found: Objects = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for kind, query in _POSTGRESQL:
                cursor.execute(query)
                for name, definition in cursor.fetchall():
                    found[f"{kind} {name}"] = definition or ""
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'view')"
            )
            for kind, name, sql in cursor.fetchall():
                found[f"{kind} {name}"] = " ".join((sql or "").split())
    return found


def compare_objects(before: Objects, after: Objects) -> list[str]:
    """One line per object missing from ``after``, left behind in it, or defined otherwise."""
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            lines.append(f"- {key} (missing)")
        elif key not in before:
            lines.append(f"+ {key} (left behind)")
        elif before[key] != after[key]:
            lines.append(f"~ {key}: {_first_difference(before[key], after[key])}")
    return lines


def _first_difference(old: str, new: str) -> str:
    """The first lines of two definitions that differ, as ``'old' -> 'new'``."""
    old_lines, new_lines = old.splitlines() or [""], new.splitlines() or [""]
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag == "equal":
            continue
        a = " ".join(line.strip() for line in old_lines[a_start:a_end])
        b = " ".join(line.strip() for line in new_lines[b_start:b_end])
        return f"definition {a!r} -> {b!r}"
    return f"definition {old!r} -> {new!r}"
