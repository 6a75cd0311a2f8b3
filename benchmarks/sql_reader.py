#!/usr/bin/env python
"""Is pglast (PostgreSQL's own parser, libpg_query) worth adopting next to the sqlparse reader?

migration_studio reads every captured statement with ``migration_studio.sql.reader.parse_all``
(sqlparse's lexer and a small hand-written reader): a statement's kind, table, ALTER TABLE actions
and so its locks. Statements it does not recognise are kind ``other``, opaque to the risk rules.
This script compares it with ``pglast.parse_sql`` on two corpora:

(a) the statements Django's schema editor emits, taken from the bundles the test suite writes on
    PostgreSQL (``scripts/test`` is run with ``--basetemp`` and ``DATABASE_URL``; every operation
    but ``RunSQL``), or from bundles kept from an earlier run (``--bundles DIR``);
(b) hand-written ``RunSQL``: the shapes below, typical of real projects, plus the ``RunSQL``
    statements found in those bundles.

For each corpus it prints the parse time per statement (medians) and statements per second of the
sqlparse reader, of ``pglast.parse_sql`` alone and of ``pglast.parse_sql`` plus reading the same
facts from its syntax tree; and the coverage: statements the reader calls ``other``, statements it
misreads (kind, table or index name, ALTER TABLE actions, WHERE/CONCURRENTLY/referenced tables,
locks, statement boundaries) taking pglast's tree as the truth. pglast is not a dependency of
migration_studio: ``pip install pglast`` into the environment that runs this script.

    .venv/bin/python -m pip install pglast
    .venv/bin/python benchmarks/sql_reader.py                      # runs the tests on PostgreSQL
    .venv/bin/python benchmarks/sql_reader.py --bundles DIR        # bundles of a --keep'ed run
    .venv/bin/python benchmarks/sql_reader.py --handwritten-only -v  # (b) only, no server

See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

try:
    import pglast
    from pglast import ast
    from pglast.enums import (
        AlterTableType,
        ConstrType,
        ObjectType,
        TransactionStmtKind,
    )
except ImportError:
    sys.exit(
        "This benchmark needs pglast, which migration_studio does not depend on. Install it into "
        f"the environment that runs the script:\n    {sys.executable} -m pip install pglast"
    )

from migration_studio.sql import reader  # noqa: E402
from migration_studio.sql.reader import Action, Statement, truncated_identifier  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ms_bench_sql_reader"
DEFAULT_TESTS = "tests --ignore=tests/unit"
#: Settings modules of the test suite's projects: their cached states are named after them.
TEST_SETTINGS_MODULES = ("tests.settings", "site_config.settings")

#: (b) Hand-written RunSQL as real projects write it. One entry may hold several statements.
HANDWRITTEN = [
    # Index builds.
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS shop_order_open_idx ON shop_order (created_at) "
    "WHERE status = 'open';",
    "CREATE UNIQUE INDEX CONCURRENTLY shop_order_reference_uniq ON shop_order (reference) "
    "INCLUDE (customer_id);",
    "CREATE INDEX CONCURRENTLY shop_order_title_trgm ON shop_order USING gin (title gin_trgm_ops);",
    "CREATE INDEX ON public.shop_order (created_at);",
    'CREATE INDEX "shop_order_lower_email" ON "public"."shop_order" (lower("email"));',
    "CREATE INDEX shop_event_created_idx ON ONLY shop_event (created_at);",
    "ALTER INDEX shop_event_created_idx ATTACH PARTITION shop_event_2026_created_idx;",
    "DROP INDEX CONCURRENTLY IF EXISTS public.shop_order_open_idx;",
    "REINDEX INDEX CONCURRENTLY shop_order_open_idx;",
    "ALTER INDEX shop_order_open_idx RENAME TO shop_order_open_created_idx;",
    # Constraints added without a long lock, then validated.
    "ALTER TABLE shop_order ADD CONSTRAINT shop_order_total_gte_0 CHECK (total >= 0) NOT VALID;",
    "ALTER TABLE shop_order ADD CONSTRAINT shop_order_customer_fk FOREIGN KEY (customer_id) "
    "REFERENCES shop_customer (id) NOT VALID;",
    "ALTER TABLE shop_order VALIDATE CONSTRAINT shop_order_customer_fk;",
    "ALTER TABLE ONLY shop_order ADD CONSTRAINT shop_order_pkey PRIMARY KEY "
    "USING INDEX shop_order_pkey_new;",
    "ALTER TABLE shop_order ADD CONSTRAINT shop_order_code_uniq UNIQUE USING INDEX "
    "shop_order_code_idx;",
    "ALTER TABLE shop_order RENAME CONSTRAINT shop_order_total_gte_0 TO shop_order_total_check;",
    # Columns, schema-qualified and mixed-case names.
    'ALTER TABLE "public"."shop_order" ADD COLUMN "note" text;',
    "ALTER TABLE public.shop_order ALTER COLUMN status SET DEFAULT 'new';",
    "ALTER TABLE Shop_Order ADD COLUMN Priority integer;",
    "ALTER TABLE Shop_Order ALTER COLUMN Priority SET NOT NULL;",
    'ALTER TABLE "Shop_Order" ADD COLUMN "Priority" integer;',
    # Unquoted names that are (non-reserved) keywords.
    "ALTER TABLE shop_order ADD COLUMN source varchar(20) DEFAULT 'web' NOT NULL;",
    "ALTER TABLE shop_order DROP COLUMN type;",
    "ALTER TABLE shop_product ALTER COLUMN position SET NOT NULL;",
    "DELETE FROM session WHERE expire_date < now();",
    "ALTER TABLE IF EXISTS billing.invoice ALTER COLUMN amount TYPE numeric(12, 2) "
    "USING amount::numeric(12, 2);",
    "ALTER TABLE shop_order RENAME COLUMN total TO total_gross;",
    "ALTER TABLE shop_order ADD COLUMN search tsvector GENERATED ALWAYS AS "
    "(to_tsvector('simple', title)) STORED;",
    "ALTER TABLE shop_order DROP COLUMN IF EXISTS legacy_code CASCADE, "
    "DROP COLUMN IF EXISTS legacy_flag;",
    "ALTER TABLE shop_order ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;",
    "ALTER TABLE shop_order SET (autovacuum_vacuum_scale_factor = 0.01);",
    "alter table shop_order add column discount numeric(5, 2) default 0 not null;",
    "ALTER TABLE shop_order DISABLE TRIGGER shop_order_touch;",
    "ALTER TABLE shop_order ENABLE ROW LEVEL SECURITY;",
    "ALTER TABLE shop_order SET TABLESPACE fast_ssd;",
    # Tables and partitions.
    'CREATE TABLE IF NOT EXISTS "public"."shop_audit" (id bigint GENERATED ALWAYS AS IDENTITY '
    "PRIMARY KEY, order_id bigint REFERENCES shop_order (id), payload jsonb NOT NULL);",
    "CREATE TABLE shop_event_2026 PARTITION OF shop_event FOR VALUES FROM ('2026-01-01') "
    "TO ('2027-01-01');",
    "ALTER TABLE shop_event ATTACH PARTITION shop_event_2026 FOR VALUES FROM ('2026-01-01') "
    "TO ('2027-01-01');",
    "ALTER TABLE shop_event DETACH PARTITION shop_event_2024 CONCURRENTLY;",
    "CREATE UNLOGGED TABLE shop_import_buffer (LIKE shop_order INCLUDING ALL);",
    "TRUNCATE shop_cart, shop_cartline;",
    "DROP TABLE IF EXISTS shop_legacy_order CASCADE;",
    "ALTER TABLE shop_legacy RENAME TO shop_archive;",
    # Functions, triggers, DO blocks (dollar quoting, semicolons inside).
    "CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger AS $$\n"
    "BEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;",
    "CREATE FUNCTION shop_order_total(order_id bigint) RETURNS numeric LANGUAGE sql STABLE AS "
    "$body$ SELECT coalesce(sum(amount), 0) FROM shop_orderline WHERE order_id = $1; $body$;",
    "CREATE TRIGGER shop_order_touch BEFORE UPDATE ON public.shop_order FOR EACH ROW "
    "EXECUTE FUNCTION touch_updated_at();",
    "DROP TRIGGER IF EXISTS shop_order_touch ON public.shop_order;",
    "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'shop_status') THEN\n"
    "    CREATE TYPE shop_status AS ENUM ('new', 'paid');\n  END IF;\nEND\n$$;",
    "DO $do$ BEGIN EXECUTE 'ALTER TABLE shop_order ADD COLUMN flag boolean'; END $do$;",
    # Backfills and data fixes.
    "UPDATE Shop_Order SET Priority = 0 WHERE Priority IS NULL;",
    "UPDATE shop_order o SET customer_name = c.name FROM shop_customer c "
    "WHERE c.id = o.customer_id;",
    "UPDATE shop_order SET total = (SELECT sum(amount) FROM shop_orderline l "
    "WHERE l.order_id = shop_order.id);",
    "UPDATE public.shop_order SET status = 'archived' WHERE id IN "
    "(SELECT id FROM shop_order WHERE created_at < '2020-01-01' LIMIT 1000);",
    "WITH batch AS (SELECT id FROM shop_order WHERE total IS NULL LIMIT 1000) "
    "UPDATE shop_order SET total = 0 WHERE id IN (SELECT id FROM batch);",
    "WITH moved AS (DELETE FROM shop_event WHERE created_at < now() - interval '90 days' "
    "RETURNING *) INSERT INTO shop_event_archive SELECT * FROM moved;",
    "-- backfill the new column\nUPDATE shop_order SET discount = 0 WHERE discount IS NULL;",
    "INSERT INTO shop_status (code) VALUES ('new') ON CONFLICT (code) DO NOTHING;",
    "DELETE FROM shop_cart USING shop_customer WHERE shop_cart.customer_id = shop_customer.id "
    "AND shop_customer.deleted;",
    "DELETE FROM shop_session;",
    # Types, extensions, grants, comments, views, sequences, settings.
    "ALTER TYPE shop_status ADD VALUE IF NOT EXISTS 'refunded' AFTER 'paid';",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm;",
    'CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;',
    "GRANT SELECT, INSERT ON shop_order TO reporting;",
    "GRANT USAGE ON SCHEMA billing TO app;",
    "COMMENT ON TABLE shop_order IS 'Orders; one per checkout';",
    "COMMENT ON COLUMN public.shop_order.total IS 'gross amount';",
    "CREATE OR REPLACE VIEW shop_open_order AS SELECT * FROM shop_order WHERE status = 'open';",
    "CREATE MATERIALIZED VIEW shop_daily AS SELECT date_trunc('day', created_at) AS day, "
    "count(*) FROM shop_order GROUP BY 1;",
    "REFRESH MATERIALIZED VIEW CONCURRENTLY shop_daily;",
    "CREATE SEQUENCE shop_invoice_number_seq START 1000;",
    "ALTER SEQUENCE shop_invoice_number_seq OWNED BY shop_invoice.number;",
    "CREATE POLICY shop_order_tenant ON shop_order USING (tenant_id = current_setting('app.tenant')"
    "::bigint);",
    "LOCK TABLE shop_order IN SHARE ROW EXCLUSIVE MODE;",
    "ANALYZE shop_order;",
    "SET lock_timeout = '5s';",
    "SET LOCAL statement_timeout TO '30min';",
    "RESET lock_timeout;",
    # Several statements in one RunSQL.
    "SET lock_timeout = '2s'; ALTER TABLE shop_order ADD COLUMN channel text; RESET lock_timeout;",
    "CREATE FUNCTION shop_noop() RETURNS void AS $$ BEGIN PERFORM 1; END; $$ LANGUAGE plpgsql; "
    "SELECT shop_noop();",
]


# -- the corpora ----------------------------------------------------------------------------------


@dataclass
class Corpus:
    name: str
    #: Unique SQL strings as executed (one may hold several statements).
    texts: list[str] = field(default_factory=list)


def capture_bundles(database_url: str, tests: list[str], basetemp: Path) -> int:
    """Run the test suite on PostgreSQL with its temporary files in ``basetemp``."""
    command = [
        str(REPO_ROOT / "scripts" / "test"),
        "-q",
        "-p",
        "no:cacheprovider",
        f"--basetemp={basetemp}",
        *tests,
    ]
    print(f"Capturing bundles: DATABASE_URL={database_url} {' '.join(command)}", file=sys.stderr)
    result = subprocess.run(
        command, cwd=REPO_ROOT, env={**os.environ, "DATABASE_URL": database_url}, check=False
    )
    return result.returncode


def _psql(database_url: str, sql: str) -> list[str]:
    """Run ``sql`` on the server of ``database_url`` (in its ``postgres`` database)."""
    server = urllib.parse.urlsplit(database_url)._replace(path="/postgres").geturl()
    result = subprocess.run(
        ["psql", server, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def server_databases(database_url: str) -> set[str]:
    return set(_psql(database_url, "SELECT datname FROM pg_database"))


def drop_new_databases(database_url: str, before: set[str]) -> None:
    """Drop what the test run left on the server and was not there before it: the databases
    ``DATABASE_URL`` names (and its ``_source``), and the cached states of its projects."""
    name = urllib.parse.urlsplit(database_url).path.lstrip("/")
    prefixes = tuple(
        "migration_studio_cache_" + hashlib.sha256(f"{module}|{name}".encode()).hexdigest()[:8]
        for module in TEST_SETTINGS_MODULES
    )
    for database in sorted(server_databases(database_url) - before):
        if database in (name, f"{name}_source") or database.startswith(prefixes):
            _psql(database_url, f'DROP DATABASE IF EXISTS "{database}"')


def read_bundles(roots: Iterable[Path]) -> tuple[list[str], list[str], int]:
    """Unique statement texts of PostgreSQL bundles: (schema editor's, RunSQL's, bundles read)."""
    emitted: dict[str, None] = {}
    runsql: dict[str, None] = {}
    seen: set[Path] = set()
    for root in roots:
        for path in sorted(root.rglob("bundle.json")):
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if not isinstance(data, dict) or data.get("vendor") != "postgresql":
                continue
            for operation in data.get("operations") or []:
                target = runsql if operation.get("class") == "RunSQL" else emitted
                for key in ("forward_sql", "deferred_forward_sql", "reverse_sql"):
                    for text in operation.get(key) or []:
                        if isinstance(text, str) and text.strip():
                            target[text.strip()] = None
                for text in operation.get("deferred_reverse_sql") or []:
                    if isinstance(text, str) and text.strip():
                        target[text.strip()] = None
    return list(emitted), list(runsql), len(seen)


# -- reading the facts from pglast's tree ---------------------------------------------------------


@dataclass
class TreeFacts:
    """What pglast's tree says about one statement, in the reader's vocabulary where it has one."""

    node_type: str
    statement: Statement
    #: "schema.name" of the relation (or object) the statement is about, as PostgreSQL resolves it.
    relation: str | None = None
    schema: str | None = None
    #: ALTER TABLE subcommands by pglast's name (AT_AddColumn ...), for display.
    subcommands: list[str] = field(default_factory=list)


def _names(items) -> list[str]:
    return [item.sval for item in items or () if isinstance(item, ast.String)]


def _object_names(item) -> list[str]:
    """The name parts of one object of a DROP: a table's, a function's, a type's."""
    if isinstance(item, tuple):
        return _names(item)
    if isinstance(item, ast.ObjectWithArgs):
        return _names(item.objname)
    if isinstance(item, ast.TypeName):
        return _names(item.names)
    if isinstance(item, ast.String):
        return [item.sval]
    return []


def _range(node) -> tuple[str | None, str | None]:
    if isinstance(node, ast.RangeVar):
        return node.schemaname, node.relname
    return None, None


def _column_action(column: ast.ColumnDef) -> Action:
    constraints = column.constraints or ()
    types = {c.contype for c in constraints}
    references = next(
        (c.pktable.relname for c in constraints if c.contype == ConstrType.CONSTR_FOREIGN), None
    )
    type_name = _names(column.typeName.names)[-1] if column.typeName else None
    default = next(
        (c for c in constraints if c.contype == ConstrType.CONSTR_DEFAULT and c.raw_expr), None
    )
    return Action(
        "add_column",
        column=column.colname,
        not_null=ConstrType.CONSTR_NOTNULL in types or ConstrType.CONSTR_PRIMARY in types,
        default="(expression)" if default is not None else None,
        references=references,
        new_type=type_name,
        unique=bool(types & {ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY}),
        generated=bool(types & {ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED})
        or type_name in ("serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"),
    )


_CONSTRAINTS = {
    ConstrType.CONSTR_FOREIGN: "foreign_key",
    ConstrType.CONSTR_UNIQUE: "unique",
    ConstrType.CONSTR_PRIMARY: "primary_key",
    ConstrType.CONSTR_CHECK: "check",
    ConstrType.CONSTR_EXCLUSION: "exclusion",
}


def _alter_action(cmd: ast.AlterTableCmd) -> Action:
    subtype = cmd.subtype
    if subtype == AlterTableType.AT_AddColumn:
        return _column_action(cmd.def_)
    if subtype == AlterTableType.AT_DropColumn:
        return Action("drop_column", column=cmd.name)
    if subtype == AlterTableType.AT_AddConstraint:
        constraint = cmd.def_
        return Action(
            "add_constraint",
            constraint=_CONSTRAINTS.get(constraint.contype, "other"),
            name=constraint.conname,
            not_valid=bool(constraint.skip_validation),
            references=constraint.pktable.relname if constraint.pktable else None,
            using=bool(constraint.indexname),
        )
    if subtype == AlterTableType.AT_DropConstraint:
        return Action("drop_constraint", name=cmd.name)
    if subtype == AlterTableType.AT_ValidateConstraint:
        return Action("validate_constraint", name=cmd.name)
    if subtype == AlterTableType.AT_AlterColumnType:
        return Action("alter_type", column=cmd.name, using=cmd.def_.raw_default is not None)
    simple = {
        AlterTableType.AT_SetNotNull: "set_not_null",
        AlterTableType.AT_DropNotNull: "drop_not_null",
        AlterTableType.AT_SetStatistics: "set_statistics",
        AlterTableType.AT_AddIdentity: "identity",
        AlterTableType.AT_DropIdentity: "identity",
        AlterTableType.AT_SetIdentity: "identity",
    }
    if subtype in simple:
        return Action(simple[subtype], column=cmd.name)
    if subtype == AlterTableType.AT_ColumnDefault:
        return Action("set_default" if cmd.def_ is not None else "drop_default", column=cmd.name)
    if subtype in (AlterTableType.AT_SetRelOptions, AlterTableType.AT_ResetRelOptions):
        return Action("set_storage_parameters")
    if subtype == AlterTableType.AT_ChangeOwner:
        return Action("owner")
    return Action("other")


def _references(node: ast.CreateStmt) -> list[str]:
    found = []
    for element in node.tableElts or ():
        constraints = (
            element.constraints if isinstance(element, ast.ColumnDef) else (element,)
        ) or ()
        for constraint in constraints:
            if isinstance(constraint, ast.Constraint) and constraint.pktable is not None:
                found.append(constraint.pktable.relname)
    return found


def _first_range(node) -> ast.RangeVar | None:
    """The first RangeVar in ``node`` (depth first, in field order)."""
    if isinstance(node, ast.RangeVar):
        return node
    if isinstance(node, tuple | list):
        for item in node:
            found = _first_range(item)
            if found is not None:
                return found
        return None
    if isinstance(node, ast.Node):
        for name in node:
            found = _first_range(getattr(node, name))
            if found is not None:
                return found
    return None


def tree_facts(raw: ast.RawStmt, sql: str) -> TreeFacts:
    """The reader's facts (kind, table, actions ...) as read from pglast's tree."""
    node = raw.stmt
    facts = TreeFacts(type(node).__name__, Statement(sql=sql, kind="other"))
    statement = facts.statement
    schema, name = None, None

    if isinstance(node, ast.AlterTableStmt):
        schema, name = _range(node.relation)
        facts.subcommands = [cmd.subtype.name for cmd in node.cmds or ()]
        if node.objtype == ObjectType.OBJECT_TABLE:
            statement.kind, statement.table = "alter_table", name
            statement.actions = [_alter_action(cmd) for cmd in node.cmds or ()]
        elif node.objtype == ObjectType.OBJECT_INDEX:
            statement.kind, statement.index = "alter_index", name
    elif isinstance(node, ast.RenameStmt):
        schema, name = _range(node.relation)
        if node.renameType == ObjectType.OBJECT_COLUMN:
            statement.kind, statement.table = "alter_table", name
            statement.actions = [Action("rename_column", column=node.subname, name=node.newname)]
        elif node.renameType == ObjectType.OBJECT_TABLE:
            statement.kind, statement.table = "rename_table", name
            statement.actions = [Action("rename_table", name=node.newname)]
        elif node.renameType == ObjectType.OBJECT_INDEX:
            statement.kind = "rename_index"
        elif node.renameType == ObjectType.OBJECT_TABCONSTRAINT:
            statement.kind, statement.table = "alter_table", name
            statement.actions = [Action("rename_constraint", name=node.newname)]
    elif isinstance(node, ast.IndexStmt):
        schema, name = _range(node.relation)
        statement.kind, statement.table, statement.index = "create_index", name, node.idxname
        statement.concurrently, statement.unique = bool(node.concurrent), bool(node.unique)
        statement.has_where = node.whereClause is not None
    elif isinstance(node, ast.CreateStmt):
        schema, name = _range(node.relation)
        statement.kind, statement.table = "create_table", name
        statement.references = _references(node)
    elif isinstance(node, ast.DropStmt):
        names = _object_names(node.objects[0]) if node.objects else []
        if node.removeType in (
            ObjectType.OBJECT_TRIGGER,
            ObjectType.OBJECT_POLICY,
            ObjectType.OBJECT_RULE,
        ):
            names = names[:-1]  # (schema, table, trigger): the table
        if names:
            schema, name = (names[-2] if len(names) > 1 else None), names[-1]
        if node.removeType == ObjectType.OBJECT_TABLE:
            statement.kind, statement.table = "drop_table", name
        elif node.removeType == ObjectType.OBJECT_INDEX:
            statement.kind, statement.index = "drop_index", name
            statement.concurrently = bool(node.concurrent)
    elif isinstance(node, ast.UpdateStmt | ast.DeleteStmt | ast.InsertStmt):
        schema, name = _range(node.relation)
        statement.kind = type(node).__name__.removesuffix("Stmt").lower()
        statement.table = name
        statement.has_where = getattr(node, "whereClause", None) is not None
    elif isinstance(node, ast.TruncateStmt):
        schema, name = _range(node.relations[0])
        statement.kind, statement.table = "truncate", name
    elif isinstance(node, ast.VariableSetStmt | ast.ConstraintsSetStmt):
        statement.kind = "set"
    elif isinstance(node, ast.TransactionStmt):
        statement.kind = {
            TransactionStmtKind.TRANS_STMT_BEGIN: "begin",
            TransactionStmtKind.TRANS_STMT_START: "begin",
            TransactionStmtKind.TRANS_STMT_COMMIT: "commit",
        }.get(node.kind, "other")
    elif isinstance(node, ast.CommentStmt):
        statement.kind = "comment"
        names = _names(node.object) if isinstance(node.object, tuple) else []
        if node.objtype == ObjectType.OBJECT_COLUMN:
            names = names[:-1]
        if names:
            schema, name = (names[-2] if len(names) > 1 else None), names[-1]
    elif isinstance(node, ast.CreateFunctionStmt):
        names = _names(node.funcname)
        schema, name = (names[-2] if len(names) > 1 else None), names[-1]
    elif isinstance(node, ast.AlterEnumStmt | ast.CreateEnumStmt):
        names = _names(node.typeName)
        schema, name = (names[-2] if len(names) > 1 else None), names[-1]
    elif isinstance(node, ast.CreateTableAsStmt):
        schema, name = _range(node.into.rel)
    elif isinstance(node, ast.CreateExtensionStmt):
        name = node.extname
    elif isinstance(node, ast.DoStmt):
        pass
    else:
        found = _first_range(node)
        if found is not None:
            schema, name = found.schemaname, found.relname
    facts.schema = schema
    facts.relation = f"{schema}.{name}" if schema and name else name
    return facts


# -- comparing ------------------------------------------------------------------------------------


#: Kinds whose ``table`` the reader fills in.
TABLE_KINDS = {
    "alter_table",
    "create_table",
    "drop_table",
    "rename_table",
    "create_index",
    "update",
    "insert",
    "delete",
    "truncate",
}


def _action_signature(action: Action) -> tuple:
    signature: tuple = (action.kind, action.column)
    if action.kind == "add_constraint":
        signature += (action.constraint, action.not_valid, action.references, action.using)
    if action.kind == "add_column":
        signature += (
            action.not_null,
            action.default is not None,
            action.references,
            action.unique,
            action.generated,
        )
    if action.kind == "alter_type":
        signature += (action.using,)
    return signature


@dataclass
class Verdict:
    status: str
    detail: str = ""
    locks_differ: bool = False


def truncated(statement: Statement) -> Statement:
    """``statement`` with its names cut to 63 bytes, as PostgreSQL (and so pglast) cuts them.

    The reader keeps names whole on purpose: ``long_identifiers`` warns about them apart.
    """

    def cut(name: str | None) -> str | None:
        return truncated_identifier(name) if name else name

    return dataclasses.replace(
        statement,
        table=cut(statement.table),
        index=cut(statement.index),
        references=[cut(name) for name in statement.references],
        actions=[
            dataclasses.replace(
                action,
                column=cut(action.column),
                name=cut(action.name),
                references=cut(action.references),
            )
            for action in statement.actions
        ],
    )


def compare(read: Statement, tree: TreeFacts) -> Verdict:
    """How the reader's facts differ from the tree's (the tree is taken as the truth)."""
    expected = tree.statement
    read = truncated(read)
    locks_differ = read.locks() != expected.locks()
    if read.kind == "other":
        if expected.kind == "other":
            return Verdict("opaque", tree.node_type)
        return Verdict("unclassified", f"pglast: {expected.kind}", locks_differ)
    if read.kind != expected.kind:
        return Verdict("wrong kind", f"{read.kind} / pglast {expected.kind}", locks_differ)
    for attribute in ("table", "index"):
        ours, theirs = getattr(read, attribute), getattr(expected, attribute)
        if attribute == "table" and read.kind not in TABLE_KINDS:
            continue
        if attribute == "index" and read.kind not in ("create_index", "drop_index"):
            continue
        if ours != theirs:
            why = "case not folded" if ours and theirs and ours.lower() == theirs else ""
            if tree.schema and ours == tree.schema:
                why = "schema read as the table"
            return Verdict(
                f"wrong {attribute}", f"{ours!r} / pglast {theirs!r} {why}".strip(), locks_differ
            )
    ours_actions = sorted(map(_action_signature, read.actions), key=repr)
    tree_actions = sorted(map(_action_signature, expected.actions), key=repr)
    if ours_actions != tree_actions:
        missing = [a for a in tree_actions if a not in ours_actions]
        extra = [a for a in ours_actions if a not in tree_actions]
        why = " case not folded" if repr(extra).lower() == repr(missing).lower() else ""
        return Verdict("wrong actions", f"{extra} / pglast {missing}{why}", locks_differ)
    for attribute in ("concurrently", "unique", "has_where"):
        if attribute == "has_where" and read.kind not in ("update", "delete", "create_index"):
            continue
        if getattr(read, attribute) != getattr(expected, attribute):
            return Verdict(
                f"wrong {attribute}",
                f"{getattr(read, attribute)} / pglast {getattr(expected, attribute)}",
                locks_differ,
            )
    if sorted(read.references) != sorted(expected.references):
        return Verdict(
            "wrong references", f"{read.references} / pglast {expected.references}", locks_differ
        )
    if locks_differ:
        return Verdict("wrong locks", f"{read.locks()} / pglast {expected.locks()}", True)
    return Verdict("agree")


def statement_texts(sql: str, raws: tuple) -> list[str]:
    """Each statement's own text, cut out of ``sql`` where pglast located it (byte offsets)."""
    data = sql.encode("utf-8")
    texts = []
    for raw in raws:
        start = raw.stmt_location or 0
        stop = start + raw.stmt_len if raw.stmt_len else len(data)
        texts.append(data[start:stop].decode("utf-8").strip())
    return texts


@dataclass
class Row:
    sql: str
    read: Statement
    tree: TreeFacts | None
    verdict: Verdict

    @property
    def names_cut(self) -> bool:
        """One of the reader's names is longer than PostgreSQL keeps (63 bytes)."""
        return truncated(self.read) != self.read


@dataclass
class Result:
    corpus: Corpus
    rows: list[Row] = field(default_factory=list)
    #: Texts the reader and pglast cut into a different number of statements.
    split_differences: list[tuple[str, int, int]] = field(default_factory=list)
    pglast_errors: list[tuple[str, str]] = field(default_factory=list)
    #: Seconds per text (median), per parser, for the texts pglast parses.
    seconds: dict[str, list[float]] = field(default_factory=dict)
    #: Statements in the texts pglast parses, as pglast counts them.
    statements: int = 0


def examine(corpus: Corpus) -> Result:
    result = Result(corpus)
    for sql in corpus.texts:
        whole = reader.parse_all(sql)
        try:
            raws = pglast.parse_sql(sql)
        except pglast.parser.ParseError as error:
            result.pglast_errors.append((sql, str(error)))
            for read in whole:
                result.rows.append(Row(read.sql, read, None, Verdict("pglast error", str(error))))
            continue
        result.statements += len(raws)
        if len(whole) != len(raws):
            result.split_differences.append((sql, len(whole), len(raws)))
        for text, raw in zip(statement_texts(sql, raws), raws, strict=True):
            read = reader.parse(text)
            tree = tree_facts(raw, text)
            result.rows.append(Row(text, read, tree, compare(read, tree)))
    return result


# -- timing ---------------------------------------------------------------------------------------


def median_seconds(
    function: Callable[[str], object], sql: str, repeat: int, target: float
) -> float:
    """Median seconds of one call, over ``repeat`` rounds of enough calls to last ``target``."""
    start = time.perf_counter()
    function(sql)
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(target / once))
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function(sql)
        rounds.append((time.perf_counter() - start) / number)
    return statistics.median(rounds)


def read_with_pglast(sql: str) -> list[TreeFacts]:
    return [tree_facts(raw, sql) for raw in pglast.parse_sql(sql)]


PARSERS: dict[str, Callable[[str], object]] = {
    "sqlparse reader": reader.parse_all,
    "pglast.parse_sql": pglast.parse_sql,
    "pglast + facts": read_with_pglast,
}


def time_corpus(result: Result, repeat: int, target: float) -> None:
    """Time each text with each parser, one text after the other (drift hits all alike)."""
    failed = {sql for sql, _ in result.pglast_errors}
    texts = [sql for sql in result.corpus.texts if sql not in failed]
    result.seconds = {name: [] for name in PARSERS}
    cached = reader.parse
    reader.parse = cached.__wrapped__  # time the reading, not the reader's lru_cache
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for sql in texts:
            for name, function in PARSERS.items():
                result.seconds[name].append(median_seconds(function, sql, repeat, target))
    finally:
        reader.parse = cached
        if gc_was_enabled:
            gc.enable()


# -- the report -----------------------------------------------------------------------------------


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(cell).rjust(width) if i in right else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]), *map(line, rows)])


def speed_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for result in results:
        if not result.seconds:
            continue
        count = result.statements
        per_text = {name: seconds for name, seconds in result.seconds.items()}
        reader_total = sum(per_text["sqlparse reader"])
        row = [result.corpus.name, str(count)]
        for name in PARSERS:
            total = sum(per_text[name])
            row += [f"{statistics.median(per_text[name]) * 1e6:.0f}", f"{count / total:,.0f}"]
        row += [
            f"{reader_total / sum(per_text['pglast.parse_sql']):.1f}x",
            f"{reader_total / sum(per_text['pglast + facts']):.1f}x",
        ]
        rows.append(row)
    return rows


STATUSES = [
    "agree",
    "opaque",
    "unclassified",
    "wrong kind",
    "wrong table",
    "wrong index",
    "wrong actions",
    "wrong concurrently",
    "wrong unique",
    "wrong has_where",
    "wrong references",
    "wrong locks",
    "pglast error",
]


def coverage_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for result in results:
        counts = Counter(row.verdict.status for row in result.rows)
        misread = sum(n for status, n in counts.items() if status.startswith("wrong"))
        with_relation = sum(
            1 for row in result.rows if row.read.kind == "other" and row.tree and row.tree.relation
        )
        other = sum(1 for row in result.rows if row.read.kind == "other")
        schemas = sum(1 for row in result.rows if row.tree and row.tree.schema)
        locks = sum(1 for row in result.rows if row.verdict.locks_differ)
        rows.append(
            [
                result.corpus.name,
                str(len(result.rows)),
                str(counts["agree"]),
                f"{other} ({with_relation})",
                str(counts["unclassified"]),
                str(misread),
                str(locks),
                str(len(result.split_differences)),
                str(schemas),
                str(len(result.pglast_errors)),
            ]
        )
    return rows


def detail_rows(result: Result, everything: bool) -> list[list[str]]:
    rows = []
    for row in result.rows:
        if not everything and row.verdict.status == "agree":
            continue
        read = row.read
        ours = read.kind + (f" {read.table}" if read.table else "")
        if read.kind == "alter_table":
            ours += " [" + ",".join(a.kind for a in read.actions) + "]"
        theirs = row.tree.node_type if row.tree else "-"
        if row.tree and row.tree.relation:
            theirs += f" {row.tree.relation}"
        if row.tree and row.tree.subcommands:
            theirs += " [" + ",".join(s.removeprefix("AT_") for s in row.tree.subcommands) + "]"
        status = row.verdict.status + (" +locks" if row.verdict.locks_differ else "")
        if row.verdict.detail and row.verdict.status not in ("agree", "opaque"):
            status += f": {row.verdict.detail}"
        rows.append([shorten(row.sql, 58), shorten(ours, 40), shorten(theirs, 52), status])
    return rows


def pglast_footprint() -> tuple[float, float]:
    """(MiB installed, median seconds to import pglast in a fresh interpreter)."""
    package = Path(pglast.__file__).parent
    size = sum(path.stat().st_size for path in package.rglob("*") if path.is_file())
    code = "import time; t = time.perf_counter(); import pglast; print(time.perf_counter() - t)"
    times = []
    for _ in range(5):
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        times.append(float(output))
    return size / 2**20, statistics.median(times)


def sqlparse_import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import sqlparse; print(time.perf_counter() - t)"
    times = []
    for _ in range(5):
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        times.append(float(output))
    return statistics.median(times)


def report(results: list[Result], verbose: bool) -> None:
    import sqlparse

    print(
        f"pglast {pglast.__version__} (PostgreSQL {pglast.parser.get_postgresql_version()[0]} "
        f"grammar), sqlparse {sqlparse.__version__}, Python {sys.version.split()[0]}"
    )
    size, seconds = pglast_footprint()
    print(
        f"pglast installed: {size:.1f} MiB; import {seconds * 1000:.0f} ms "
        f"(sqlparse: {sqlparse_import_seconds() * 1000:.0f} ms)\n"
    )

    print("Parse time per statement (median, microseconds) and statements per second")
    headers = ["corpus", "stmts"]
    for name in PARSERS:
        headers += [f"{name} us", "stmt/s"]
    headers += ["reader/pglast", "reader/(pglast+facts)"]
    print(table(headers, speed_rows(results), right=set(range(1, len(headers)))))
    print(
        "\n(ratios: total time of the sqlparse reader / total time of pglast; above 1x pglast is "
        "faster)\n"
    )

    print("Coverage, taking pglast's tree as the truth")
    headers = [
        "corpus",
        "stmts",
        "agree",
        'reader "other" (pglast names a relation)',
        "of which a known kind",
        "misread",
        "locks differ",
        "split differs",
        "schema-qualified",
        "pglast errors",
    ]
    print(table(headers, coverage_rows(results), right=set(range(1, len(headers)))))

    for result in results:
        counts = Counter(row.verdict.status for row in result.rows)
        summary = ", ".join(f"{status} {counts[status]}" for status in STATUSES if counts[status])
        cut = sum(1 for row in result.rows if row.names_cut)
        if cut:
            summary += (
                f"; {cut} statement(s) with a name over 63 bytes, compared cut to 63 bytes as "
                "PostgreSQL and pglast cut it"
            )
        print(f"\n{result.corpus.name}: {summary}")
        types = Counter(
            row.tree.node_type for row in result.rows if row.read.kind == "other" and row.tree
        )
        if types:
            print(
                '  pglast types of the reader\'s "other": '
                + ", ".join(f"{name} {n}" for name, n in types.most_common())
            )
        rows = detail_rows(result, verbose)
        if rows:
            print(table(["statement", "sqlparse reader", "pglast", "verdict"], rows))
        for sql, ours, theirs in result.split_differences:
            print(f"  split: reader {ours} statement(s), pglast {theirs}: {shorten(sql, 90)}")
        for sql, error in result.pglast_errors:
            print(f"  pglast error: {error}: {shorten(sql, 80)}")

    print("\nVerdict")
    print(verdict(results))


def verdict(results: list[Result]) -> str:
    lines = []
    for result in results:
        if not result.rows:
            continue
        counts = Counter(row.verdict.status for row in result.rows)
        misread = sum(n for status, n in counts.items() if status.startswith("wrong"))
        other = sum(1 for row in result.rows if row.read.kind == "other")
        speed = ""
        if result.seconds:
            ratio = sum(result.seconds["sqlparse reader"]) / sum(result.seconds["pglast + facts"])
            speed = (
                f"pglast with the facts read is {ratio:.1f}x faster"
                if ratio >= 1
                else f"pglast with the facts read is {1 / ratio:.1f}x slower"
            )
        folding = sum(1 for row in result.rows if row.verdict.detail.endswith("case not folded"))
        lines.append(
            f"- {result.corpus.name}: {len(result.rows)} statements; the reader agrees with "
            f"pglast on {counts['agree']}, calls {other} 'other' ({counts['unclassified']} of "
            f"them a kind it knows), misreads {misread}"
            + (f" ({folding} of them a name not folded to lower case)" if folding else "")
            + (
                f", splits {len(result.split_differences)} text(s) differently"
                if result.split_differences
                else ""
            )
            + (f"; {speed}" if speed else "")
            + "."
        )
    opaque = [row for result in results for row in result.rows if row.verdict.status == "opaque"]
    located = sum(1 for row in opaque if row.tree and row.tree.relation)
    lines.append(
        f"- {len(opaque)} statements are 'other' in the reader's vocabulary whoever reads them: "
        f"pglast gives each its statement type and {located} a relation or object name, but the "
        "risk rules would need new rules (and lock modes) to say anything more about them."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bundles",
        type=Path,
        action="append",
        help="read bundle.json files under this directory instead of running the tests "
        "(repeatable; e.g. a --keep'ed basetemp)",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="for the test run")
    parser.add_argument(
        "--tests",
        default=DEFAULT_TESTS,
        help="pytest arguments of the test run that writes the bundles, in one string "
        f"(default: {DEFAULT_TESTS!r})",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the test run's basetemp (for --bundles) and the databases it left",
    )
    parser.add_argument(
        "--handwritten-only", action="store_true", help="skip corpus (a): no test run"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per statement")
    parser.add_argument(
        "--target-ms", type=float, default=1.0, help="least duration of one round, in ms"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every statement, not only disagreements"
    )
    options = parser.parse_args(argv)

    emitted: list[str] = []
    runsql: list[str] = []
    status = 0
    if not options.handwritten_only:
        if options.bundles:
            emitted, runsql, bundles = read_bundles(options.bundles)
        else:
            basetemp = Path(tempfile.mkdtemp(prefix="ms_sql_reader_bench_"))
            before = server_databases(options.database_url)
            try:
                status = capture_bundles(
                    options.database_url, shlex.split(options.tests), basetemp / "bt"
                )
                if status:
                    print(
                        f"warning: the test run exited with status {status}; reading the bundles "
                        "it wrote anyway",
                        file=sys.stderr,
                    )
                emitted, runsql, bundles = read_bundles([basetemp])
            finally:
                if options.keep:
                    print(f"kept {basetemp} and the test run's databases", file=sys.stderr)
                else:
                    shutil.rmtree(basetemp, ignore_errors=True)
                    drop_new_databases(options.database_url, before)
        print(
            f"{bundles} PostgreSQL bundles: {len(emitted)} schema editor texts, "
            f"{len(runsql)} RunSQL texts\n",
            file=sys.stderr,
        )
        if not emitted:
            print(
                "No PostgreSQL bundle was found: is DATABASE_URL a PostgreSQL server?",
                file=sys.stderr,
            )
            return 1

    corpora = []
    if emitted:
        corpora.append(Corpus("(a) Django schema editor", emitted))
    handwritten = list(dict.fromkeys([*HANDWRITTEN, *runsql]))
    corpora.append(Corpus("(b) hand-written RunSQL", handwritten))

    results = [examine(corpus) for corpus in corpora]
    for result in results:
        time_corpus(result, options.repeat, options.target_ms / 1000)
    report(results, options.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
