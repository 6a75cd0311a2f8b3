"""Split SQL text into statements the way the database's own client splits a file.

``psql`` and ``sqlite3`` end a statement at a ``;`` that is outside string literals (``'...'``
with ``''``, ``E'...'`` with backslash escapes), quoted identifiers, dollar-quoted strings
(``$$ ... $$``, ``$tag$ ... $tag$``), comments (``--`` and ``/* */``, nested on PostgreSQL),
parentheses, and the ``BEGIN ... END`` body of a ``CREATE FUNCTION``/``PROCEDURE`` (PostgreSQL) or
``CREATE TRIGGER`` (SQLite).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The dollar-quote tag and word patterns, compiled when first needed: compiling their
    character ranges up to ``\\uffff`` takes 10-20 ms, which every command would pay on import
    even when it never splits a file (``makesafemigration``)."""
    dollar_tag = re.compile(r"\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
    word = re.compile(r"[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*")
    return dollar_tag, word


def first_word(sql: str) -> str:
    """The first word of ``sql`` as written (``''`` when it does not start with one)."""
    match = _patterns()[1].match(sql)
    return match.group(0) if match else ""


def terminated(text: str, vendor: str) -> str:
    """``text`` (one statement without its ``;``) with a ``;`` that ends it: on a line of its own
    when the statement ends in a ``--`` comment, which would swallow it."""
    candidate = text + ";"
    if "--" not in text.rsplit("\n", 1)[-1]:
        return candidate
    if len(split(candidate + "\nSELECT 1;", vendor)) == 2:
        return candidate
    return text + "\n;"


def split(text: str, vendor: str) -> list[str]:
    """The statements of ``text``, each with its ``;``, without the comments between them."""
    return [chunk for is_statement, chunk in scan(text, vendor) if is_statement]


def annotated(text: str, vendor: str) -> list[tuple[list[str], str]]:
    """Each statement of ``text`` with the ``--`` comment lines between it and the one before."""
    found: list[tuple[list[str], str]] = []
    comments: list[str] = []
    for is_statement, chunk in scan(text, vendor):
        if is_statement:
            found.append((comments, chunk))
            comments = []
        else:
            comments.append(chunk)
    return found


def scan(text: str, vendor: str) -> Iterator[tuple[bool, str]]:
    """``(True, statement)`` for each statement; ``(False, line)`` for each ``--`` comment
    line between statements (where the markers are)."""
    postgresql, sqlite, mysql = vendor == "postgresql", vendor == "sqlite", vendor == "mysql"
    length = len(text)
    position = 0
    start: int | None = None  # where the current statement starts
    depth = 0  # parentheses
    words: list[str] = []  # the statement's words, lower-case
    blocks = 0  # BEGIN ... END depth inside a function or trigger body
    while position < length:
        char = text[position]
        if char.isspace():
            position += 1
            continue
        if text.startswith("--", position) or (mysql and char == "#"):
            end = text.find("\n", position)
            end = length if end < 0 else end
            if start is None:
                yield False, text[position:end].rstrip()
            position = end
            continue
        if text.startswith("/*", position):
            position = _comment_end(text, position, nested=postgresql)
            continue
        if start is None:
            start = position
        if char == ";":
            if depth == 0 and (blocks == 0 or _trigger_ends(words, sqlite)):
                statement = text[start : position + 1].strip()
                if statement != ";":
                    yield True, statement
                start, depth, words, blocks = None, 0, [], 0
            elif sqlite:
                words.append(";")
            position += 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == "'":
            position = _quoted_end(text, position, "'", backslash=mysql)
            continue
        elif char == '"':
            position = _quoted_end(text, position, '"', backslash=mysql)
            continue
        elif char == "`" and not postgresql:
            position = _quoted_end(text, position, "`", backslash=False)
            continue
        elif char == "[" and sqlite:
            end = text.find("]", position + 1)
            position = length if end < 0 else end + 1
            continue
        elif char == "$" and postgresql and (tag := _patterns()[0].match(text, position)):
            end = text.find(tag.group(0), tag.end())
            position = length if end < 0 else end + len(tag.group(0))
            continue
        elif word := _patterns()[1].match(text, position):
            position = word.end()
            lower = word.group(0).lower()
            if postgresql and lower == "e" and text.startswith("'", position):
                position = _quoted_end(text, position, "'", backslash=True)
                continue
            words.append(lower)
            blocks = _blocks(words, blocks, depth, postgresql, sqlite)
            continue
        position += 1
    if start is not None and text[start:].strip():
        yield True, text[start:].strip()


def _quoted_end(text: str, position: int, quote: str, *, backslash: bool) -> int:
    """The position after the literal or identifier opened at ``position`` (doubled quotes, and
    backslash escapes when ``backslash``, stay inside)."""
    index = position + 1
    while index < len(text):
        char = text[index]
        if backslash and char == "\\":
            index += 2
            continue
        if char == quote:
            if text.startswith(quote, index + 1):
                index += 2
                continue
            return index + 1
        index += 1
    return len(text)


def _comment_end(text: str, position: int, *, nested: bool) -> int:
    level, index = 0, position
    while index < len(text):
        if text.startswith("/*", index) and (nested or level == 0):
            level += 1
            index += 2
        elif text.startswith("*/", index):
            level -= 1
            index += 2
            if level == 0:
                return index
        else:
            index += 1
    return len(text)


def _blocks(words: list[str], blocks: int, depth: int, postgresql: bool, sqlite: bool) -> int:
    """The BEGIN ... END depth after the statement's latest word."""
    word = words[-1]
    if postgresql:
        # CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END (a SQL-standard body).
        head = words[1:2] if words[1:3] != ["or", "replace"] else words[3:4]
        if words[0] != "create" or head not in (["function"], ["procedure"]) or depth:
            return blocks
        if word == "begin" or (word == "case" and blocks):
            return blocks + 1
        if word == "end" and blocks:
            return blocks - 1
        return blocks
    if sqlite and word == "begin" and words[0] == "create" and "trigger" in words[1:4]:
        return 1  # the trigger body ends at "; END;" (see _trigger_ends)
    return blocks


def _trigger_ends(words: list[str], sqlite: bool) -> bool:
    """A SQLite trigger body ends with ``END`` right after a ``;``."""
    return sqlite and words[-2:] == [";", "end"]
