"""Bundle SQL for the review pages: laid out (:mod:`migration_studio.sql.layout`) and highlighted
on the server with Pygments, whose HTML escapes every character of the statement."""

from __future__ import annotations

from functools import lru_cache

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import MySqlLexer, PostgresLexer, SqlLexer

from ..sql.layout import laid_out

#: Under this CSS class the highlighted SQL takes Pygments' colours (see :func:`stylesheet`).
CSS_CLASS = "ms-code"

_LEXERS = {"postgresql": PostgresLexer, "mysql": MySqlLexer}
_FORMATTER = HtmlFormatter(nowrap=True)


@lru_cache(maxsize=8192)
def highlighted(sql: str, vendor: str) -> SafeString:
    """One statement, laid out and highlighted (HTML for the inside of a ``<pre>``)."""
    lexer = _LEXERS.get(vendor, SqlLexer)()
    return mark_safe(highlight(laid_out(sql), lexer, _FORMATTER).rstrip("\n"))


def highlighted_file(text: str, vendor: str) -> SafeString:
    """A whole SQL file (checks.sql) highlighted as it is written, comments included."""
    lexer = _LEXERS.get(vendor, SqlLexer)()
    return mark_safe(highlight(text, lexer, _FORMATTER).rstrip("\n"))


@lru_cache(maxsize=1)
def stylesheet() -> SafeString:
    return mark_safe(HtmlFormatter(style="friendly").get_style_defs(f".{CSS_CLASS}"))
