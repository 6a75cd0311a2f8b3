"""What a captured statement does, read with sqlparse: its kind, table, actions and locks.

Only the shapes of SQL that Django's schema editors and ordinary ``RunSQL`` produce are recognised
in detail; anything else is an ``other`` statement, which rules treat as opaque.

Lock modes are PostgreSQL's (see its "Explicit Locking" chapter and the ALTER TABLE page), checked
against ``pg_locks`` on PostgreSQL 15: most ``ALTER TABLE`` forms take ACCESS EXCLUSIVE; adding a
foreign key takes SHARE ROW EXCLUSIVE on both tables; ``VALIDATE CONSTRAINT`` takes SHARE UPDATE
EXCLUSIVE (ROW SHARE on the referenced table); dropping a foreign key or a table that has one takes
ACCESS EXCLUSIVE on the referenced table too; ``CREATE INDEX`` takes SHARE, and ``CONCURRENTLY``
SHARE UPDATE EXCLUSIVE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sqlparse
from sqlparse import lexer
from sqlparse import tokens as T

from .locks import (
    ACCESS_EXCLUSIVE,
    ROW_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    stronger,
)


@dataclass
class Action:
    """One thing an ALTER TABLE (or CREATE/DROP) statement does."""

    kind: str
    column: str | None = None
    #: For add_constraint: foreign_key, unique, check, primary_key.
    constraint: str | None = None
    name: str | None = None
    not_valid: bool = False
    references: str | None = None
    #: For add_column and set_default: the DEFAULT expression text (None for none, or DEFAULT
    #: NULL); for add_column, whether the column is NOT NULL.
    default: str | None = None
    not_null: bool = False
    new_type: str | None = None
    using: bool = False
    #: For add_column: the column is declared UNIQUE or PRIMARY KEY inline (an index build).
    unique: bool = False
    #: For add_column: an identity/serial or a stored generated column (values for every row).
    generated: bool = False
    #: For a CHECK constraint: the columns its condition requires to be set, one of the terms
    #: ANDed at its top level being ``"col" IS NOT NULL`` (or ``NOT ("col" IS NULL)``).
    required_columns: tuple[str, ...] = ()


@dataclass
class Statement:
    sql: str
    #: alter_table, create_table, drop_table, create_index, drop_index, rename_index, update,
    #: insert, delete, set, begin, commit, comment, other
    kind: str
    table: str | None = None
    actions: list[Action] = field(default_factory=list)
    concurrently: bool = False
    unique: bool = False
    #: Tables the statement references through foreign keys.
    references: list[str] = field(default_factory=list)
    #: For index statements: the index name.
    index: str | None = None
    has_where: bool = False
    #: For UPDATE: the column its WHERE clause selects the NULL rows of, when the whole condition
    #: is ``col IS NULL`` (``"col"``, ``"table"."col"``): the rows changed are the NULL ones.
    null_column: str | None = None
    #: For SET statements: the setting's name, lower case (``lock_timeout``).
    setting: str | None = None
    #: For create_table: its CHECK constraints, as add_constraint actions (SQLite adds a
    #: constraint by rebuilding the table with it).
    checks: list[Action] = field(default_factory=list)

    def action_kinds(self) -> set[str]:
        return {a.kind for a in self.actions}

    def locks(self) -> dict[str, str]:
        """PostgreSQL lock mode per table this statement takes."""
        taken: dict[str, str] = {}

        def take(table: str | None, mode: str) -> None:
            if table:
                taken[table] = stronger(taken.get(table), mode) or mode

        if self.kind == "alter_table":
            for action in self.actions:
                if action.kind == "add_constraint" and action.constraint == "foreign_key":
                    take(self.table, SHARE_ROW_EXCLUSIVE)
                    take(action.references, SHARE_ROW_EXCLUSIVE)
                elif action.kind == "validate_constraint" or action.kind in (
                    "set_statistics",
                    "set_storage_parameters",
                ):
                    take(self.table, SHARE_UPDATE_EXCLUSIVE)
                else:
                    take(self.table, ACCESS_EXCLUSIVE)
                    if action.references:
                        take(action.references, SHARE_ROW_EXCLUSIVE)
        elif self.kind == "create_table":
            for table in self.references:
                take(table, SHARE_ROW_EXCLUSIVE)
        elif self.kind in ("drop_table", "rename_table", "truncate"):
            take(self.table, ACCESS_EXCLUSIVE)
        elif self.kind == "create_index":
            take(self.table, SHARE_UPDATE_EXCLUSIVE if self.concurrently else SHARE)
        elif self.kind == "drop_index":
            # The table is not named in DROP INDEX; the index itself is locked.
            take(self.index, SHARE_UPDATE_EXCLUSIVE if self.concurrently else ACCESS_EXCLUSIVE)
        elif self.kind in ("update", "insert", "delete"):
            take(self.table, ROW_EXCLUSIVE)
        return taken


class _Keyword(str):
    """A word sqlparse reads as a keyword, upper case; taken where a name stands (a column called
    ``type``), it is the name in lower case, as PostgreSQL reads it unquoted."""


def _words(sql: str) -> list[tuple[object, str]]:
    """sqlparse's tokens (its lexer only: grouping is not needed and costs most of the time)."""
    tokens = [
        (ttype, value)
        for ttype, value in lexer.tokenize(sql)
        if not (ttype in T.Whitespace or ttype in T.Newline or ttype in T.Comment)
    ]
    words = []
    for position, (ttype, value) in enumerate(tokens):
        if ttype in T.Keyword or ttype in T.Name.Builtin:
            # sqlparse reads "NOT NULL", "IF EXISTS" ... as one keyword: one word each here.
            words.extend((ttype, _Keyword(part)) for part in value.upper().split())
            continue
        if ttype in T.Name or ttype in T.Literal.String.Symbol:
            if value[:1] in ('"', "`"):
                value = value.strip('"`')
            elif not _calls_function(tokens, position):
                # Unquoted names are folded to lower case, as PostgreSQL (and SQLite) read
                # them; a function's name is kept as written (defaults are shown as they are).
                value = value.lower()
        words.append((ttype, value))
    return words


#: Words after which a name followed by "(" is a table (its column list), not a function.
_BEFORE_TABLE = {"TABLE", "EXISTS", "REFERENCES", "ON", "INTO", "ONLY", "UPDATE", "."}


def _calls_function(tokens: list[tuple[object, str]], position: int) -> bool:
    if position + 1 == len(tokens) or tokens[position + 1][1] != "(":
        return False
    return position == 0 or tokens[position - 1][1].upper() not in _BEFORE_TABLE


#: PostgreSQL's NAMEDATALEN - 1: longer identifiers are cut to this many bytes, silently.
POSTGRESQL_MAX_IDENTIFIER = 63


def long_identifiers(sql: str, limit: int = POSTGRESQL_MAX_IDENTIFIER) -> list[str]:
    """Identifiers in ``sql`` longer than ``limit`` bytes (UTF-8), each once, in order."""
    found: dict[str, None] = {}
    for ttype, value in lexer.tokenize(sql):
        if ttype in T.Literal.String.Symbol and value.startswith('"'):
            name = value[1:-1].replace('""', '"')
        elif ttype in T.Name and ttype not in T.Name.Builtin:
            name = value.lower()
        else:
            continue
        if len(name.encode("utf-8")) > limit:
            found[name] = None
    return list(found)


def truncated_identifier(name: str, limit: int = POSTGRESQL_MAX_IDENTIFIER) -> str:
    """``name`` as PostgreSQL stores it: cut to ``limit`` bytes, never inside a character."""
    data = name.encode("utf-8")[:limit]
    return data.decode("utf-8", errors="ignore")


def parse_all(sql: str) -> list[Statement]:
    """Facts about each statement in ``sql`` (Django sometimes executes two at once)."""
    if ";" not in sql.rstrip().rstrip(";"):
        return [parse(sql)]
    parts = [part for part in sqlparse.split(sql) if part.strip()]
    return [parse(part) for part in parts] or [parse(sql)]


class _Reader:
    def __init__(self, words: list[tuple[object, str]]) -> None:
        self.words = words
        self.i = 0

    def peek(self, offset: int = 0) -> str:
        index = self.i + offset
        return self.words[index][1].upper() if index < len(self.words) else ""

    def raw(self, offset: int = 0) -> str:
        index = self.i + offset
        return self.words[index][1] if index < len(self.words) else ""

    def accept(self, *words: str) -> bool:
        if all(self.peek(n) == w for n, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def take(self) -> str:
        """The next word, as a name."""
        value = self.raw()
        self.i += 1
        return value.lower() if isinstance(value, _Keyword) else value

    def name(self) -> str:
        """A possibly schema-qualified name: the last part."""
        value = self.take()
        while self.peek() == ".":
            self.i += 1
            value = self.take()
        return value

    def done(self) -> bool:
        return self.i >= len(self.words)

    def until_comma(self) -> list[str]:
        """Words up to the next top-level comma (consumed) or the end."""
        depth, words = 0, []
        while not self.done():
            word = self.raw()
            if word == "(":
                depth += 1
            elif word == ")":
                depth -= 1
            elif (word == "," and depth == 0) or (word == ";" and depth == 0):
                self.i += 1
                break
            words.append(word)
            self.i += 1
        return words


def _last_part(words: list[str], index: int) -> str:
    """The name starting at ``words[index]`` without its schema (``"public"."t"`` -> ``t``)."""
    while index + 2 < len(words) and words[index + 1] == ".":
        index += 2
    return words[index].strip('"`')


@lru_cache(maxsize=4096)
def parse(sql: str) -> Statement:
    """Facts about one statement (cached: bundles repeat statements across analyses)."""
    try:
        words = _words(sql)
    except Exception:  # sqlparse gives up on some exotic input: treat it as opaque
        return Statement(sql=sql, kind="other")
    reader = _Reader(words)
    first = reader.peek()
    if first == "ALTER" and reader.peek(1) == "TABLE":
        return _alter_table(sql, reader)
    if first == "CREATE":
        return _create(sql, reader)
    if first == "DROP":
        return _drop(sql, reader)
    if first == "SET" and reader.peek(1) == "CONSTRAINTS":
        return Statement(sql=sql, kind="set")
    if first == "ALTER" and reader.peek(1) == "INDEX":
        # ALTER INDEX ... RENAME TO; other forms (ATTACH PARTITION, SET ...) are opaque.
        words = [w.upper() for _, w in reader.words]
        return Statement(sql=sql, kind="rename_index" if "RENAME" in words else "other")
    if first == "WITH":
        _skip_common_table_expressions(reader)
        if reader.peek() in ("UPDATE", "INSERT", "DELETE"):
            return _dml(sql, reader)
        return Statement(sql=sql, kind="other")
    if first == "RESET":
        reader.take()
        return Statement(sql=sql, kind="set", setting=reader.raw().lower() or None)
    if first in ("UPDATE", "INSERT", "DELETE", "TRUNCATE"):
        return _dml(sql, reader)
    if first in ("SET", "PRAGMA"):
        reader.take()
        reader.accept("LOCAL") or reader.accept("SESSION")
        return Statement(sql=sql, kind="set", setting=reader.raw().lower() or None)
    if first in ("BEGIN", "COMMIT", "COMMENT"):
        return Statement(sql=sql, kind=first.lower())
    return Statement(sql=sql, kind="other")


def _skip_common_table_expressions(r: _Reader) -> None:
    """Move past ``WITH [RECURSIVE] name [(columns)] AS [[NOT] MATERIALIZED] (...) [, ...]``."""
    r.accept("WITH")
    r.accept("RECURSIVE")
    while not r.done():
        r.take()
        if r.peek() == "(":
            _skip_parentheses(r)
        r.accept("AS")
        r.accept("NOT")
        r.accept("MATERIALIZED")
        if r.peek() != "(":
            return
        _skip_parentheses(r)
        if not r.accept(","):
            return


def _skip_parentheses(r: _Reader) -> None:
    depth = 0
    while not r.done():
        word = r.raw()
        r.i += 1
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth == 0:
            return


def _alter_table(sql: str, r: _Reader) -> Statement:
    r.accept("ALTER", "TABLE")
    r.accept("IF", "EXISTS")
    r.accept("ONLY")
    statement = Statement(sql=sql, kind="alter_table", table=r.name())
    if r.accept("RENAME", "TO"):
        statement.kind = "rename_table"
        statement.actions.append(Action("rename_table", name=r.take()))
        return statement
    while not r.done():
        words = r.until_comma()
        if words:
            statement.actions.append(_action(words))
    return statement


def _action(words: list[str]) -> Action:
    upper = [w.upper() for w in words]
    r = _Reader([(None, w) for w in words])

    def after(*keys: str) -> str | None:
        for i in range(len(upper) - len(keys) + 1):
            if tuple(upper[i : i + len(keys)]) == keys and i + len(keys) < len(words):
                return _last_part(words, i + len(keys))
        return None

    if r.accept("ADD", "CONSTRAINT") or (
        r.accept("ADD")
        and r.peek()
        in (
            "FOREIGN",
            "UNIQUE",
            "CHECK",
            "PRIMARY",
            "EXCLUDE",
        )
    ):
        name = after("CONSTRAINT")
        kind = (
            "exclusion"
            if "EXCLUDE" in upper
            else "foreign_key"
            if "FOREIGN" in upper
            else "unique"
            if "UNIQUE" in upper
            else "primary_key"
            if "PRIMARY" in upper
            else "check"
            if "CHECK" in upper
            else "other"
        )
        return Action(
            "add_constraint",
            constraint=kind,
            name=name,
            not_valid=any(upper[i : i + 2] == ["NOT", "VALID"] for i in range(len(upper))),
            references=after("REFERENCES"),
            using="USING" in upper and "INDEX" in upper,
            required_columns=_required_columns(words[upper.index("CHECK") + 1 :])
            if kind == "check"
            else (),
        )
    r = _Reader([(None, w) for w in words])
    if r.accept("ADD"):
        r.accept("COLUMN")
        r.accept("IF", "NOT", "EXISTS")
        column = r.take().strip('"`')
        default = None
        if "DEFAULT" in upper:
            start = upper.index("DEFAULT") + 1
            stop = start
            while stop < len(upper) and upper[stop] not in (
                "NOT",
                "NULL",
                "CONSTRAINT",
                "REFERENCES",
                "PRIMARY",
                "UNIQUE",
                "CHECK",
                "GENERATED",
            ):
                stop += 1
            # DEFAULT NULL (Django's db_default=None) is no default: NULL is what a column
            # without one gets.
            default = " ".join(words[start:stop]) or None
        return Action(
            "add_column",
            column=column,
            default=default,
            not_null=any(upper[i : i + 2] == ["NOT", "NULL"] for i in range(len(upper))),
            references=after("REFERENCES"),
            new_type=words[r.i] if r.i < len(words) else None,
            unique="UNIQUE" in upper or "PRIMARY" in upper,
            generated="GENERATED" in upper
            or any(w.lower() in ("serial", "bigserial", "smallserial") for w in words),
        )
    if r.accept("DROP", "CONSTRAINT"):
        r.accept("IF", "EXISTS")
        return Action("drop_constraint", name=r.take().strip('"`'))
    if r.accept("DROP"):
        r.accept("COLUMN")
        r.accept("IF", "EXISTS")
        return Action("drop_column", column=r.take().strip('"`'))
    if r.accept("VALIDATE", "CONSTRAINT"):
        return Action("validate_constraint", name=r.take().strip('"`'))
    if r.accept("RENAME", "CONSTRAINT"):
        r.take()
        r.accept("TO")
        return Action("rename_constraint", name=r.take().strip('"`'))
    if r.accept("RENAME", "COLUMN") or r.accept("RENAME"):
        old = r.take().strip('"`')
        r.accept("TO")
        return Action("rename_column", column=old, name=r.take().strip('"`'))
    if r.accept("ALTER"):
        r.accept("COLUMN")
        column = r.take().strip('"`')
        if r.accept("TYPE") or r.accept("SET", "DATA", "TYPE"):
            rest = words[r.i :]
            type_words = []
            for word in rest:
                if word.upper() in ("USING", "COLLATE"):
                    break
                type_words.append(word)
            return Action(
                "alter_type",
                column=column,
                new_type="".join(type_words).replace(",", ", "),
                using="USING" in upper,
            )
        if r.accept("SET", "NOT", "NULL"):
            return Action("set_not_null", column=column)
        if r.accept("DROP", "NOT", "NULL"):
            return Action("drop_not_null", column=column)
        if r.accept("SET", "DEFAULT"):
            default = " ".join(words[r.i :])
            null = default.upper() == "NULL" or default.upper().startswith("NULL::")
            return Action("set_default", column=column, default=None if null else default)
        if r.accept("DROP", "DEFAULT"):
            return Action("drop_default", column=column)
        if r.accept("SET", "STATISTICS"):
            return Action("set_statistics", column=column)
        if r.accept("ADD", "GENERATED") or r.accept("DROP", "IDENTITY"):
            return Action("identity", column=column)
        return Action("alter_column", column=column)
    if r.accept("SET", "("):
        return Action("set_storage_parameters")
    if r.accept("OWNER"):
        return Action("owner")
    return Action("other")


def _unwrapped(words: list[str]) -> list[str]:
    """``words`` without the parentheses that enclose all of them: ``( ( a ) )`` -> ``a``."""
    while words and words[0] == "(" and _closing(words, 0) == len(words) - 1:
        words = words[1:-1]
    return words


def _closing(words: list[str], opening: int) -> int:
    depth = 0
    for index in range(opening, len(words)):
        depth += {"(": 1, ")": -1}.get(words[index], 0)
        if depth == 0:
            return index
    return -1


def _required_columns(words: list[str]) -> tuple[str, ...]:
    """The columns a CHECK condition (its words, from the parenthesis after CHECK) rejects NULL
    in, for certain: a term of the top-level AND that is ``col IS NOT NULL`` or
    ``NOT (col IS NULL)``. Nothing when the condition has a top-level OR."""
    if words and words[0] == "(":
        words = words[: _closing(words, 0) + 1]
    words = _unwrapped(words)
    terms: list[list[str]] = [[]]
    depth = 0
    for word in words:
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth == 0 and word.upper() == "OR":
            return ()
        if depth == 0 and word.upper() == "AND":
            terms.append([])
        else:
            terms[-1].append(word)
    found = []
    for term in terms:
        term = _unwrapped(term)
        upper = [w.upper() for w in term]
        if len(term) == 4 and upper[1:] == ["IS", "NOT", "NULL"]:
            found.append(term[0])
        elif upper[:1] == ["NOT"] and len(term) > 1:
            rest = _unwrapped(term[1:])
            if len(rest) == 3 and [w.upper() for w in rest[1:]] == ["IS", "NULL"]:
                found.append(rest[0])
    return tuple(found)


def _create(sql: str, r: _Reader) -> Statement:
    r.accept("CREATE")
    for modifier in ("UNLOGGED", "TEMPORARY", "TEMP"):
        if r.peek() == modifier and r.peek(1) == "TABLE":
            r.accept(modifier)
    unique = r.accept("UNIQUE")
    if r.accept("INDEX"):
        concurrently = r.accept("CONCURRENTLY")
        r.accept("IF", "NOT", "EXISTS")
        name = r.name() if r.peek() != "ON" else None
        r.accept("ON")
        r.accept("ONLY")
        table = r.name()
        return Statement(
            sql=sql,
            kind="create_index",
            table=table,
            concurrently=concurrently,
            unique=unique,
            index=name,
            has_where="WHERE" in [w.upper() for _, w in r.words[r.i :]],
        )
    if r.accept("TABLE"):
        r.accept("IF", "NOT", "EXISTS")
        table = r.name()
        upper = [w.upper() for _, w in r.words]
        references = [
            _last_part([w for _, w in r.words], i + 1)
            for i, word in enumerate(upper)
            if word == "REFERENCES" and i + 1 < len(upper)
        ]
        return Statement(
            sql=sql,
            kind="create_table",
            table=table,
            references=references,
            checks=_table_checks(r),
        )
    return Statement(sql=sql, kind="other")


def _table_checks(r: _Reader) -> list[Action]:
    """The CHECK constraints of a CREATE TABLE's element list (``r`` after the table's name)."""
    if not r.accept("("):
        return []
    checks = []
    while not r.done():
        words = r.until_comma()
        upper = [w.upper() for w in words]
        if "CHECK" not in upper:
            continue
        start = upper.index("CHECK")
        name = words[upper.index("CONSTRAINT") + 1] if upper[:1] == ["CONSTRAINT"] else None
        if upper[:1] != ["CONSTRAINT"] and start != 0:
            continue  # a column's own CHECK
        checks.append(
            Action(
                "add_constraint",
                constraint="check",
                name=name,
                required_columns=_required_columns(words[start + 1 :]),
            )
        )
    return checks


def _drop(sql: str, r: _Reader) -> Statement:
    r.accept("DROP")
    if r.accept("INDEX"):
        concurrently = r.accept("CONCURRENTLY")
        r.accept("IF", "EXISTS")
        return Statement(sql=sql, kind="drop_index", index=r.name(), concurrently=concurrently)
    if r.accept("TABLE"):
        r.accept("IF", "EXISTS")
        return Statement(sql=sql, kind="drop_table", table=r.name())
    return Statement(sql=sql, kind="other")


def _dml(sql: str, r: _Reader) -> Statement:
    kind = r.take().lower()
    r.accept("INTO")
    r.accept("FROM")
    r.accept("TABLE")
    r.accept("ONLY")
    table = r.name()
    depth, where, has_from = 0, None, False
    words = [r.take() for _ in range(len(r.words) - r.i)]
    for index, word in enumerate(words):
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth == 0 and word.upper() in ("FROM", "USING"):
            has_from = True
        if depth == 0 and word.upper() == "WHERE" and where is None:
            where = index
    null_column = None
    if kind == "update" and where is not None:
        null_column = _null_column(words[where + 1 :], table, has_from)
    return Statement(
        sql=sql, kind=kind, table=table, has_where=where is not None, null_column=null_column
    )


def _null_column(words: list[str], table: str, has_from: bool) -> str | None:
    """The column of a WHERE condition (its words) that is ``col IS NULL`` as a whole, or None.

    A qualified column counts when it can only be the updated table's: the UPDATE has no FROM
    (no other table is in scope), or the qualifier is the table's name."""
    depth, end = 0, len(words)
    for index, word in enumerate(words):
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth == 0 and (word in (";",) or word.upper() == "RETURNING"):
            end = index
            break
    condition = _unwrapped(words[:end])
    if len(condition) < 3 or [w.upper() for w in condition[-2:]] != ["IS", "NULL"]:
        return None
    name = condition[:-2]
    if len(name) == 1:
        return None if has_from else name[0]
    if len(name) % 2 == 0 or any(name[i] != "." for i in range(1, len(name), 2)):
        return None
    qualifier = name[-3]
    if has_from and qualifier != table:
        return None
    return name[-1]
