"""Partial copies: SQLite scratch databases that hold only the tables a capture needs.

Part of the scratch databases (scratch.py); only :class:`ScratchDatabase` and capture.py use it.

Every DDL statement makes SQLite re-read its schema, and ``ALTER TABLE ... RENAME`` (the last step
of each table rebuild Django runs on SQLite) parses every ``CREATE`` statement of the database. On
a 200-table state a rebuild costs about ten times what it costs on a state of ten tables, and most
of a capture's time went there. A migration of Django's model, field and index operations only
touches the tables of the models it can see (substate.py), so its capture runs as well on a
database holding those tables: the scratch database starts empty, and before each capture
:meth:`PartialCopy.copy` copies in, from the cached state, the tables it needs (with their indexes
and rows), the tables that point to them and everything these point to by foreign key. Copying is
cheap (the tables of a cached state are usually empty), and the captured SQL is the same: Django's
schema editor only introspects the tables it alters.

What a partial copy cannot show is an object of the cached state that was left out: a migration
creating a table or an index under a name that a left-out object has would fail on the full copy
and succeed here. :meth:`PartialCopy.collides` finds such names in the captured SQL; the caller
then captures again on a full copy (as after any failure, so that errors read as before). States
with views, triggers or virtual tables (whose SQL may name any table) are never copied in part.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any


def _key(name: str) -> str:
    """SQLite compares names case-insensitively; folding more than it does only errs on the safe
    side (a name taken for a collision sends the capture to a full copy)."""
    return name.casefold()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: A name in SQLite's SQL, quoted ("x", `x`, [x]) or bare; and the name that a statement creates
#: (``CREATE TABLE``, ``CREATE INDEX``) or gives a table (``ALTER TABLE ... RENAME TO``).
_NAME = r'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|\[[^\]]+\]|[^\s.(]+)'
_CREATED = (
    rf"\s*(?:CREATE\s+(?:TEMP\w*\s+)?TABLE|CREATE\s+(?:UNIQUE\s+)?INDEX|"
    rf"ALTER\s+TABLE\s+(?:{_NAME}\s*\.\s*)?{_NAME}\s+RENAME\s+TO)"
    rf"\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{_NAME}\s*\.\s*)?({_NAME})"
)


@cache
def _created_pattern() -> re.Pattern[str]:
    return re.compile(_CREATED, re.IGNORECASE)  # when first needed: not on import


def _created_name(statement: str) -> str | None:
    start = statement.lstrip()[:6].upper()
    if not start.startswith(("CREATE", "ALTER")):
        return None
    match = _created_pattern().match(statement)
    if match is None:
        return None
    name = match.group(1)
    if name[0] in '"`':
        return name[1:-1].replace(name[0] * 2, name[0])
    return name[1:-1] if name[0] == "[" else name


class PartialCopy:
    """The cached state at ``path``, copied table by table into a scratch database on demand.

    The cached file is opened read-only at once and stays open until :meth:`close`, so another
    run evicting it in the meantime does not take it away.
    """

    def __init__(self, source: sqlite3.Connection, entries: list[tuple[str, str, str, str]]):
        self._source = source
        #: (type, name, tbl_name, sql) of every table and index, in the cached state's order.
        self._entries = entries
        self._tables = {_key(name): name for kind, name, _, _ in entries if kind == "table"}
        #: Foreign keys: table -> the tables it points to, and the reverse (keys are _key()s).
        self._points_to: dict[str, set[str]] = {}
        self._pointed_by: dict[str, set[str]] = {}
        rows = source.execute(
            'SELECT m.name, f."table" FROM sqlite_master AS m '
            "JOIN pragma_foreign_key_list(m.name) AS f WHERE m.type = 'table'"
        ).fetchall()
        for child, parent in rows:
            self._points_to.setdefault(_key(child), set()).add(_key(parent))
            self._pointed_by.setdefault(_key(parent), set()).add(_key(child))
        #: Tables copied so far (_key()s).
        self.copied: set[str] = set()
        self._started = False

    @classmethod
    def open(cls, path: Path) -> PartialCopy | None:
        """The cached state at ``path``, or None when it cannot be copied in part (views,
        triggers, virtual tables) or cannot be read."""
        try:
            source = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            entries = source.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
            ).fetchall()
            if any(
                kind not in ("table", "index")
                or (sql or "").lstrip()[:14].upper().startswith("CREATE VIRTUAL")
                for kind, _, _, sql in entries
            ):
                source.close()
                return None
            return cls(source, entries)
        except sqlite3.Error:
            source.close()
            return None

    def close(self) -> None:
        self._source.close()

    # -- copying ---------------------------------------------------------------------------------

    def wanted(self, tables: Iterable[str]) -> set[str]:
        """``tables`` (those the cached state has), the tables pointing to them, and every table
        these point to, transitively: what keeps foreign key checks as on the full copy."""
        keep = {_key(t) for t in tables} & self._tables.keys()
        for table in list(keep):
            keep |= self._pointed_by.get(table, set())
        pending = list(keep)
        while pending:
            for parent in self._points_to.get(pending.pop(), ()):
                if parent in self._tables and parent not in keep:
                    keep.add(parent)
                    pending.append(parent)
        return keep

    def copy(self, connection: Any, tables: Iterable[str] | None) -> None:
        """Copy ``tables`` (None: every table) and what :meth:`wanted` adds into the database of
        the Django connection ``connection``, unless copied already. Raises sqlite3.Error."""
        keep = set(self._tables) if tables is None else self.wanted(tables)
        keep -= self.copied
        if not keep and self._started:
            return
        connection.ensure_connection()
        raw = connection.connection
        assert not connection.in_atomic_block, "copy tables outside of any transaction"
        foreign_keys = raw.execute("PRAGMA foreign_keys").fetchone()[0]
        raw.execute("PRAGMA foreign_keys = OFF")  # cannot change inside the transaction
        try:
            raw.execute("BEGIN")
            try:
                self._copy(raw, keep)
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
        finally:
            raw.execute(f"PRAGMA foreign_keys = {int(foreign_keys)}")
        self.copied |= keep
        self._started = True

    def _copy(self, raw: sqlite3.Connection, keep: set[str]) -> None:
        if not self._started:
            for pragma in ("user_version", "application_id"):
                value = int(self._source.execute(f"PRAGMA {pragma}").fetchone()[0])
                if value:
                    raw.execute(f"PRAGMA {pragma} = {value}")
        # In the cached state's order: a table's indexes come back in the order they had.
        for _, name, table, sql in self._entries:
            if sql and _key(table) in keep and not name.startswith("sqlite_"):
                raw.execute(sql)
        for key in sorted(keep):
            self._copy_rows(raw, self._tables[key])
        if keep and "sqlite_sequence" in self._tables:
            # AUTOINCREMENT counters as they were (the copied rows set them to the largest id).
            names = [self._tables[key] for key in keep]
            for name, seq in self._source.execute("SELECT name, seq FROM sqlite_sequence"):
                if name in names:
                    raw.execute("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
                    raw.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, seq)
                    )

    def _copy_rows(self, raw: sqlite3.Connection, table: str) -> None:
        if table.startswith("sqlite_"):
            return
        if self._source.execute(f"SELECT 1 FROM {_quote(table)} LIMIT 1").fetchone() is None:
            return
        columns = [
            _quote(row[1])
            for row in self._source.execute(f"PRAGMA table_xinfo({_quote(table)})")
            if row[6] == 0  # not a generated (or hidden) column
        ]
        listed = ", ".join(columns)
        rows = self._source.execute(f"SELECT {listed} FROM {_quote(table)}")
        raw.executemany(
            f"INSERT INTO {_quote(table)} ({listed}) VALUES ({', '.join('?' * len(columns))})",
            rows,
        )

    # -- what the copy does not show ------------------------------------------------------------

    def collides(self, statements: Iterable[str]) -> bool:
        """Whether a statement creates a table or index under the name of an object of the cached
        state that was not copied (on the full copy it would fail)."""
        left_out = {
            _key(name) for _, name, table, _ in self._entries if _key(table) not in self.copied
        }
        names = (_created_name(statement) for statement in statements)
        return any(name is not None and _key(name) in left_out for name in names)
