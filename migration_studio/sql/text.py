"""Small readings of SQL text that need no parser: the parts of the statements Django's schema
editors write that checks and schema comparisons look at (a parenthesised list, a WHERE clause,
quoted names), and quoting a name the way each vendor reads it back."""

from __future__ import annotations

import re
from collections.abc import Iterable


def quote_identifier(name: str, vendor: str) -> str:
    """``name`` quoted for ``vendor`` (backticks on MySQL, double quotes elsewhere); a quote
    character inside the name is doubled, as SQL escapes it."""
    mark = "`" if vendor == "mysql" else '"'
    return f"{mark}{name.replace(mark, mark * 2)}{mark}"


def quoted_identifiers(sql: str) -> set[str]:
    """The double-quoted names in ``sql`` (``"a""b"`` reads as ``a"b``)."""
    found, position = set(), 0
    while (start := sql.find('"', position)) >= 0:
        end = start + 1
        while True:
            end = sql.find('"', end)
            if end < 0:
                return found
            if sql.startswith('""', end):
                end += 2
                continue
            break
        found.add(sql[start + 1 : end].replace('""', '"'))
        position = end + 1
    return found


def _depths(sql: str, start: int = 0):
    """(index, char, depth) of each character outside string literals and quoted names, from
    ``start``; depth counts the parentheses open before the character (a ")" has its own)."""
    depth, index, quote = 0, start, ""
    while index < len(sql):
        char = sql[index]
        if quote:
            if char == quote:
                if sql.startswith(quote * 2, index):
                    index += 1  # a doubled quote stays inside
                else:
                    quote = ""
        elif char in "'\"`":
            quote = char
        else:
            if char == ")":
                depth -= 1
            yield index, char, depth
            if char == "(":
                depth += 1
        index += 1


def balanced(sql: str, opening: int) -> str | None:
    """The text inside the parenthesis that opens at ``opening``, up to its match, or None.

    Parentheses inside string literals and quoted names do not count.
    """
    for index, char, depth in _depths(sql, opening):
        if char == ")" and depth == 0:
            return sql[opening + 1 : index]
    return None


def split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses, literals and quoted names."""
    parts, start = [], 0
    for index, char, depth in _depths(text):
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def parenthesised_after(sql: str, marker: str) -> str | None:
    """The text inside the parentheses that directly follow ``marker`` (any case), or None."""
    upper, wanted = sql.upper(), marker.upper()
    start = upper.find(wanted)
    while start >= 0:
        opening = sql.find("(", start + len(marker))
        if opening >= 0 and not sql[start + len(marker) : opening].strip():
            return balanced(sql, opening)
        start = upper.find(wanted, start + 1)
    return None


def all_parenthesised_after(sql: str, keyword: str) -> list[str]:
    """Every parenthesised text that directly follows ``keyword`` (``CHECK (...)``), in order."""
    found, upper, start = [], sql.upper(), 0
    while (position := upper.find(keyword.upper(), start)) >= 0:
        start = position + len(keyword)
        opening = sql.find("(", start)
        if opening < 0 or sql[start:opening].strip():
            continue
        inside = balanced(sql, opening)
        if inside is not None:
            found.append(inside)
    return found


def identifier_list(text: str) -> list[str]:
    """``"a", "b"`` -> ["a", "b"]; empty when any part is an expression."""
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    names = []
    for part in parts:
        if part[:1] in ('"', "`"):
            end = part.find(part[0], 1)
            name = part[1:end] if end > 0 else ""  # what follows (DESC, an opclass) is not read
            if not name:
                return []
        else:
            name = part.split()[0] if part else ""
            if not name.replace("_", "").isalnum():
                return []
        names.append(name)
    return names


def where_clause(sql: str) -> str | None:
    """What follows the last `` WHERE `` of ``sql`` (a partial index's condition), or None."""
    position = sql.upper().rfind(" WHERE ")
    return sql[position + 7 :] if position >= 0 else None


def without_literals(sql: str) -> str:
    """``sql`` with the contents of its string literals removed (``'a''b'`` -> ``''``)."""
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def calls(sql: str, functions: Iterable[str]) -> bool:
    """Whether ``sql`` calls one of ``functions`` (a name followed by ``(``, outside strings)."""
    text = without_literals(sql).lower()
    return any(re.search(rf"\b{re.escape(name)}\s*\(", text) for name in functions)


def runs_concurrently(sql: str) -> bool:
    """Whether the statement is a ``... CONCURRENTLY`` one (it cannot run in a transaction)."""
    return "CONCURRENTLY" in sql.upper().split()


def fills_rows(sql: str) -> bool:
    """Whether the statement writes values into existing rows: a backfill (``UPDATE``), or a
    SQLite table rebuild that fills a column (``INSERT ... SELECT ... COALESCE(col, default)``)."""
    text = sql.lstrip().upper()
    return text.startswith("UPDATE") or (text.startswith("INSERT") and "COALESCE(" in text)


#: The name prefix of the backup tables ``makesafemigration --backup`` keeps dropped columns in.
BACKUP_TABLE_PREFIX = "ms_backup_"
#: The column of a backup table that says when it was made.
BACKED_UP_AT = "ms_backed_up_at"


def backup_of(statements: Iterable[str], table: str, column: str | None = None) -> str | None:
    """The backup table one of ``statements`` copies ``table.column`` (or, without ``column``,
    the whole table) into before it is dropped (``CREATE TABLE "ms_backup_..." AS SELECT <pk>,
    "column" ...`` or ``AS SELECT *, ...``), or None."""
    copied = f'"{column}"' if column else "SELECT *"
    for sql in statements:
        text = sql.strip()
        if not text.upper().startswith(f'CREATE TABLE "{BACKUP_TABLE_PREFIX}'.upper()):
            continue
        if f'{copied}, CURRENT_TIMESTAMP AS "{BACKED_UP_AT}" FROM "{table}"' in text:
            return text.split('"')[1]
    return None
