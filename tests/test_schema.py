"""Comparing schema snapshots (no server): what counts as a difference, what as a new name."""

from __future__ import annotations

from migration_studio.validation.schema import compare


def table(**constraints: dict) -> dict:
    return {"columns": {"id": {"type": "int"}}, "constraints": constraints, "sequences": []}


FK = {"kind": "foreign key", "columns": ["book_id"], "definition": "FOREIGN KEY (book_id) ..."}
INDEX = {"kind": "index", "columns": ["book_id"], "definition": "CREATE INDEX ON t (book_id)"}


def test_an_index_and_a_constraint_of_the_same_name_are_two_entries() -> None:
    before = {"t": table(**{"foreign key ref": FK})}
    after = {"t": table(**{"foreign key ref": FK, "index ref": INDEX})}
    result = compare(before, after)
    assert result.differences == ["+ t: index ref (left behind)"]
    assert result.renamed == []


def test_the_same_definition_under_another_name_is_a_name_only_difference() -> None:
    before = {"t": table(**{"index old_idx": INDEX, "foreign key fk_a": FK})}
    after = {"t": table(**{"index t_book_id_1a2b": INDEX, "foreign key fk_b": FK})}
    result = compare(before, after)
    assert result.differences == []
    assert result.renamed == [
        "= t: foreign key fk_a is now fk_b (same definition, another name)",
        "= t: index old_idx is now t_book_id_1a2b (same definition, another name)",
    ]


def test_another_kind_or_definition_is_a_lost_and_an_extra_constraint() -> None:
    unique = {**INDEX, "kind": "unique index"}
    other_columns = {**INDEX, "columns": ["id"], "definition": "CREATE INDEX ON t (id)"}
    before = {"t": table(**{"index a": INDEX, "index b": INDEX})}
    after = {"t": table(**{"unique index c": unique, "index d": other_columns})}
    result = compare(before, after)
    assert result.renamed == []
    assert result.differences == [
        "- t: index a (missing)",
        "- t: index b (missing)",
        "+ t: index d (left behind)",
        "+ t: unique index c (left behind)",
    ]
