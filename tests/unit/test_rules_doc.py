"""docs/rules.rst documents exactly the built-in rules of the registry.

Each registered rule has an anchor (the fragment of its findings' ``docs`` link), a section headed
``<id>: <title>`` and a row of the overview table with its title, default severity, backends and
direction; and the page names no rule id that is not registered.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migration_studio.risk.registry import BUILTIN_RULES

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "rules.rst"
TEXT = PAGE.read_text()
RULE_ID = re.compile(r"\bMS\d{3}\b")
IDS = [rule.id for rule in BUILTIN_RULES]

#: ``.. _ms101:``, a blank line, ``MS101: Title``, its underline.
SECTION = re.compile(r"^\.\. _([\w-]+):\n\n(\S+): (.+)\n([~^=\-\"'`]+)$", re.M)
#: A row of the overview's list-table: ``* - :ref:`MS101 <ms101>``` and four cells.
ROW = re.compile(
    r"^   \* - :ref:`(\S+) <([\w-]+)>`\n" + r"".join(r"     - (.*)\n" for _ in range(4)),
    re.M,
)
BACKENDS = {
    ("postgresql",): "PostgreSQL",
    ("sqlite",): "SQLite",
    ("postgresql", "sqlite", "mysql"): "all",
}
DIRECTIONS = {
    ("forward",): "forward",
    ("reverse",): "rollback",
    ("forward", "reverse"): "forward, rollback",
}


def sections() -> list[tuple[str, str, str, str]]:
    return SECTION.findall(TEXT)


def overview() -> list[tuple[str, ...]]:
    table = TEXT.split("\nOverview\n", 1)[1].split("\n\n\n", 1)[0]
    return ROW.findall(table)


def test_builtin_rule_ids_are_unique_and_look_like_rule_ids() -> None:
    assert IDS and len(IDS) == len(set(IDS))
    assert all(RULE_ID.fullmatch(rule_id) for rule_id in IDS)


@pytest.mark.parametrize("rule", BUILTIN_RULES, ids=IDS)
def test_registered_rule_has_its_anchor_and_section(rule) -> None:
    page, fragment = rule().docs.split("#")
    assert REPO / page == PAGE
    found = [s for s in sections() if s[0] == fragment]
    assert len(found) == 1, f"no (or several) '.. _{fragment}:' followed by the rule's heading"
    _, heading_id, title, underline = found[0]
    assert (heading_id, title) == (rule.id, rule.title)
    assert len(underline) >= len(f"{heading_id}: {title}")
    assert len(set(underline)) == 1


@pytest.mark.parametrize("rule", BUILTIN_RULES, ids=IDS)
def test_registered_rule_has_its_overview_row(rule) -> None:
    rows = [row for row in overview() if row[0] == rule.id]
    assert len(rows) == 1
    _, target, title, severity, backends, direction = rows[0]
    assert target == rule.id.lower()
    assert title == rule.title
    assert severity == rule.severity.label
    assert backends == BACKENDS[tuple(rule.backends)]
    expected = DIRECTIONS[tuple(rule.directions)]
    if rule.scope == "migration":
        expected += " (whole migration)"
    assert direction == expected


def test_page_documents_no_unregistered_rule() -> None:
    registered = set(IDS)
    anchors = re.findall(r"^\.\. _([\w-]+):$", TEXT, re.M)
    assert sorted(a for a in anchors if RULE_ID.fullmatch(a.upper())) == sorted(
        i.lower() for i in registered
    )
    assert sorted(s[1] for s in sections() if RULE_ID.fullmatch(s[1])) == sorted(registered)
    assert sorted(row[0] for row in overview()) == sorted(registered)
    # Anywhere on the page (prose, references, the squawk table), in either case.
    mentioned = {m.upper() for m in re.findall(r"\bms\d{3}\b", TEXT, re.I)}
    assert mentioned - registered == set()
