"""The Markdown the app writes (a bundle's README.md and rollback-plan.md) as safe HTML.

Not a general Markdown renderer: it covers what the bundle templates write (ATX headings,
paragraphs, lists, fenced code, pipe tables, inline code, bold, italic, links, horizontal rules,
bare http(s) addresses) and little more. It is safe for any input: all text is HTML-escaped (raw
HTML comes out as text), and a link is a link only to http(s), an anchor or a relative address:
``javascript:``, ``data:`` and every other scheme stay text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape, unescape

from django.utils.safestring import SafeString, mark_safe

__all__ = ["render_markdown", "safe_url"]

_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*))?$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_BULLET = re.compile(r"^( *)[-*+][ \t]+(.*)$")
_NUMBERED = re.compile(r"^( *)(\d{1,9})[.)][ \t]+(.*)$")
_QUOTE = re.compile(r"^ {0,3}> ?(.*)$")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
_LANGUAGE = re.compile(r"^[\w.+#-]{1,40}$")

# Inline. Rendered pieces are set aside as placeholders (private-use characters, removed from
# the input) so that later rules do not look inside them.
_HOLD, _END = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_HOLD}(\\d+){_END}")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_BACKSLASH = re.compile(r"\\([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")
_LINK = re.compile(r"\[([^\[\]]+)\]\(([^()\s]+)\)")
_BARE_URL = re.compile(f"https?://[^\\s{_HOLD}{_END}]+")
_URL_TRAILER = re.compile(r"(?:[.,;:!?)\]*_]|&quot;|&#x27;|&gt;|&lt;)+$")
_STRONG = (
    re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.DOTALL),
    re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)", re.DOTALL),
)
_EMPHASIS = (
    re.compile(r"\*(?=[^\s*])(.+?)(?<=[^\s*])\*", re.DOTALL),
    # Not inside a word: snake_case_names stay as they are.
    re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)", re.DOTALL),
)
_SCHEME = re.compile(r"^[^/?#]*:")


def render_markdown(text: str) -> SafeString:
    """``text`` (Markdown) as HTML, every piece of text escaped."""
    text = str(text or "").replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    text = text.replace(_HOLD, "\ufffd").replace(_END, "\ufffd").replace("\x00", "\ufffd")
    # Safe: _blocks escapes every piece of the input it outputs.
    return mark_safe("\n".join(_blocks(text.split("\n"))))


def safe_url(url: str) -> bool:
    """Whether a link may point to ``url``: http(s), an anchor, or relative without a scheme.

    Relative means no ``:`` before the first ``/``, ``?`` or ``#``: whatever a browser would read
    as a scheme (even with tabs or control characters in it, ``java\\tscript:``) is refused."""
    return url.lower().startswith(("http://", "https://", "#")) or not _SCHEME.match(url)


# -- blocks ----------------------------------------------------------------------------------------


def _blocks(lines: list[str]) -> list[str]:
    """The HTML of each block of ``lines``, in order."""
    html: list[str] = []
    i, count = 0, len(lines)
    while i < count:
        line = lines[i]
        if not line.strip():
            i += 1
        elif fence := _FENCE.match(line):
            i = _code_block(lines, i, fence, html)
        elif heading := _HEADING.match(line):
            level = len(heading.group(1))
            content = _CLOSING_HASHES.sub("", heading.group(2) or "").strip()
            html.append(f"<h{level}>{_inline(content)}</h{level}>")
            i += 1
        elif _RULE.match(line):
            html.append("<hr>")
            i += 1
        elif _table_starts(lines, i):
            i = _table(lines, i, html)
        elif _BULLET.match(line) or _NUMBERED.match(line):
            i = _list(lines, i, html)
        elif _QUOTE.match(line):
            quoted = []
            while i < count and (quote := _QUOTE.match(lines[i])):
                quoted.append(quote.group(1))
                i += 1
            html.append("<blockquote>\n" + "\n".join(_blocks(quoted)) + "\n</blockquote>")
        else:
            paragraph = [line.strip()]
            i += 1
            while i < count and lines[i].strip() and not _interrupts_paragraph(lines, i):
                paragraph.append(lines[i].strip())
                i += 1
            html.append(f"<p>{_inline(chr(10).join(paragraph))}</p>")
    return html


def _starts_block(lines: list[str], i: int) -> bool:
    """Whether line ``i`` starts a block other than a paragraph or a list."""
    line = lines[i]
    return bool(
        _FENCE.match(line)
        or _HEADING.match(line)
        or _RULE.match(line)
        or _QUOTE.match(line)
        or _table_starts(lines, i)
    )


def _interrupts_paragraph(lines: list[str], i: int) -> bool:
    """A block start, a bullet, or a numbered list starting at 1 (a wrapped line of a paragraph
    can start with another number)."""
    numbered = _NUMBERED.match(lines[i])
    return (
        _starts_block(lines, i)
        or bool(_BULLET.match(lines[i]))
        or (numbered is not None and int(numbered.group(2)) == 1)
    )


def _code_block(lines: list[str], i: int, fence: re.Match[str], html: list[str]) -> int:
    indent, marker, language = len(fence.group(1)), fence.group(2), fence.group(3)
    closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
    content = []
    i += 1
    while i < len(lines) and not closing.match(lines[i]):
        line = lines[i]
        content.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
        i += 1
    css = f' class="language-{escape(language)}"' if _LANGUAGE.match(language) else ""
    body = escape("\n".join(content) + "\n") if content else ""
    html.append(f"<pre><code{css}>{body}</code></pre>")
    return i + 1  # past the closing fence (or the end: an unclosed block runs to it)


def _table_starts(lines: list[str], i: int) -> bool:
    """A header row and a delimiter row (``| --- | :-: |``) with as many cells."""
    if i + 1 >= len(lines) or "|" not in lines[i] or "|" not in lines[i + 1]:
        return False
    if not _TABLE_DELIMITER.match(lines[i + 1]):
        return False
    return len(_cells(lines[i])) == len(_cells(lines[i + 1]))


def _cells(line: str) -> list[str]:
    """The cells of a table row, ``\\|`` in a cell being a ``|`` of its text."""
    row = line.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _CELL_SEPARATOR.split(row)]


def _table(lines: list[str], i: int, html: list[str]) -> int:
    header = _cells(lines[i])
    aligns = []
    for delimiter in _cells(lines[i + 1]):
        left, right = delimiter.startswith(":"), delimiter.endswith(":")
        align = "center" if left and right else "right" if right else "left" if left else ""
        aligns.append(f' style="text-align: {align}"' if align else "")
    out = ["<table>", "<thead>", _row("th", header, aligns), "</thead>"]
    i += 2
    body = []
    while i < len(lines) and lines[i].strip() and "|" in lines[i] and not _starts_block(lines, i):
        cells = _cells(lines[i])[: len(header)]
        body.append(_row("td", cells + [""] * (len(header) - len(cells)), aligns))
        i += 1
    if body:
        out += ["<tbody>", *body, "</tbody>"]
    out.append("</table>")
    html.append("\n".join(out))
    return i


def _row(tag: str, cells: list[str], aligns: list[str]) -> str:
    return (
        "<tr>"
        + "".join(
            f"<{tag}{align}>{_inline(cell)}</{tag}>"
            for cell, align in zip(cells, aligns, strict=True)
        )
        + "</tr>"
    )


def _list(lines: list[str], i: int, html: list[str]) -> int:
    """One list (bullets, or numbered); items of nested lists are items of this one."""
    numbered = _NUMBERED.match(lines[i])
    same = _NUMBERED if numbered else _BULLET
    other = _BULLET if numbered else _NUMBERED
    items: list[list[str]] = []
    count = len(lines)
    while i < count:
        line = lines[i]
        item = same.match(line) or other.match(line)
        if item and (item.re is same or len(item.group(1)) >= 2):
            items.append([item.group(item.lastindex or 0)])
            i += 1
        elif item:  # the other kind of list, not indented: a new list
            break
        elif not line.strip():
            after = i + 1
            while after < count and not lines[after].strip():
                after += 1
            if after < count and (
                same.match(lines[after]) or lines[after].startswith("  ")
            ):  # a loose list: rendered as a tight one
                i = after
            else:
                break
        elif _starts_block(lines, i) and not line.startswith("  "):
            break
        else:  # a continuation line of the item
            items[-1].append(line.strip())
            i += 1
    tag = "ol" if numbered else "ul"
    start = int(numbered.group(2)) if numbered else 1
    opening = f'<ol start="{start}">' if numbered and start != 1 else f"<{tag}>"
    lis = "\n".join(f"<li>{_inline(chr(10).join(item))}</li>" for item in items)
    html.append(f"{opening}\n{lis}\n</{tag}>")
    return i


# -- inline ----------------------------------------------------------------------------------------


def _inline(text: str) -> str:
    """Inline code, links, bold and italic in ``text``, everything else escaped."""
    held: list[str] = []

    def hold(html: str) -> str:
        held.append(html)
        return f"{_HOLD}{len(held) - 1}{_END}"

    def code(match: re.Match[str]) -> str:
        content = match.group(2).replace("\n", " ")
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        return hold(f"<code>{escape(content)}</code>")

    text = _CODE_SPAN.sub(code, text)
    text = _BACKSLASH.sub(lambda match: hold(escape(match.group(1))), text)
    text = escape(text)

    def link(match: re.Match[str]) -> str:
        label, url = match.group(1), match.group(2)
        if _HOLD in url or not safe_url(unescape(url)):
            return match.group(0)
        # ``url`` is escaped already (``&amp;``, ``&quot;``): fit for the attribute as it is.
        return hold(f'<a href="{url}">{_emphasis(label)}</a>')

    def bare_url(match: re.Match[str]) -> str:
        url = match.group(0)
        trailer = _URL_TRAILER.search(url)
        tail = trailer.group(0) if trailer else ""
        url = url[: len(url) - len(tail)]
        return hold(f'<a href="{url}">{url}</a>') + tail

    text = _LINK.sub(link, text)
    text = _BARE_URL.sub(bare_url, text)
    text = _emphasis(text)
    while _HOLD in text:
        text = _PLACEHOLDER.sub(lambda match: held[int(match.group(1))], text)
    return text


def _emphasis(text: str) -> str:
    for pattern in _STRONG:
        text = pattern.sub(_wrap("strong"), text)
    for pattern in _EMPHASIS:
        text = pattern.sub(_wrap("em"), text)
    return text


def _wrap(tag: str) -> Callable[[re.Match[str]], str]:
    return lambda match: f"<{tag}>{match.group(1)}</{tag}>"
