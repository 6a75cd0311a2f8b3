"""SQL laid out for reading (one clause or one column per line, indented), its text otherwise
unchanged: keywords keep their case; identifiers, literals and comments are untouched."""

from __future__ import annotations

import re

import sqlparse

from .text import balanced, split_top_level

#: Statements up to this length read well on one line and are shown as written.
SHORT = 100
#: Longer statements are shown as written: laying them out would cost more than it helps.
LONG = 20_000

_CREATE_TABLE = re.compile(r"\s*CREATE\s+(?:TEMPORARY\s+)?TABLE\b[^(]*\(", re.IGNORECASE)


def laid_out(sql: str) -> str:
    sql = sql.strip()
    if len(sql) <= SHORT or len(sql) > LONG:
        return sql
    table = _CREATE_TABLE.match(sql)
    if table:
        opening = table.end() - 1
        inside = balanced(sql, opening)
        if inside is not None:
            rest = sql[opening + len(inside) + 2 :]
            items = ",\n  ".join(part.strip() for part in split_top_level(inside))
            return f"{sql[:opening].rstrip()} (\n  {items}\n){rest}"
    return sqlparse.format(sql, reindent=True, indent_width=2).strip()
