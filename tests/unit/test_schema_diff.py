"""Schema snapshots compared without a server (validation/schema.py ``compare`` and ``diff``): the
snapshots are built by hand in the shape ``snapshot()`` returns. ``tests/test_schema.py`` covers
entries that share a name and constraints recreated under another name; these cover the rest of
the diff."""

from __future__ import annotations

from typing import Any

from migration_studio.validation.schema import compare, diff

ID = {"type": "bigint", "size": None, "precision": 64, "scale": 0, "null": False}
TOTAL = {"type": "numeric", "size": None, "precision": 12, "scale": 2, "null": False}
NOTE = {"type": "text", "size": None, "precision": None, "scale": None, "null": True}
PKEY = {"kind": "primary key", "columns": ["id"], "definition": "PRIMARY KEY (id)"}
CHECK = {"kind": "check", "columns": ["total"], "definition": "CHECK ((total >= (0)::numeric))"}
INDEX = {
    "kind": "index",
    "columns": ["total"],
    "definition": "CREATE INDEX ON public.shop_order USING btree (total)",
}


def table(
    columns: dict[str, Any] | None = None,
    constraints: dict[str, Any] | None = None,
    sequences: list | None = None,
) -> dict[str, Any]:
    return {
        "columns": dict(columns if columns is not None else {"id": ID, "total": TOTAL}),
        "constraints": dict(
            constraints if constraints is not None else {"primary key shop_order_pkey": PKEY}
        ),
        "sequences": sequences if sequences is not None else [("shop_order_id_seq", "id")],
    }


def test_the_same_schema_has_no_difference() -> None:
    before = {"shop_order": table(), "shop_tag": table()}
    after = {"shop_tag": table(), "shop_order": table()}
    result = compare(before, after)
    assert (result.differences, result.renamed) == ([], [])
    assert diff(before, after) == []


def test_column_order_does_not_matter() -> None:
    before = {"shop_order": table({"id": ID, "total": TOTAL, "note": NOTE})}
    after = {"shop_order": table({"note": NOTE, "id": ID, "total": TOTAL})}
    assert diff(before, after) == []


def test_missing_and_left_behind_tables() -> None:
    before = {"shop_order": table(), "shop_tag": table()}
    after = {"shop_order": table(), "shop_coupon": table()}
    assert compare(before, after).differences == [
        "+ table shop_coupon (left behind)",
        "- table shop_tag (missing)",
    ]


def test_missing_left_behind_and_changed_columns() -> None:
    before = {"shop_order": table({"id": ID, "total": TOTAL, "note": NOTE})}
    after = {
        "shop_order": table(
            {
                "id": {**ID, "type": "integer", "precision": 32},
                "total": TOTAL,
                "rating": {**NOTE, "type": "integer"},
            }
        )
    }
    assert compare(before, after).differences == [
        "~ shop_order: column id: type: 'bigint' -> 'integer', precision: 64 -> 32",
        "- shop_order: column note (missing)",
        "+ shop_order: column rating (left behind)",
    ]


def test_a_column_that_became_nullable() -> None:
    before = {"shop_order": table({"id": ID, "total": TOTAL})}
    after = {"shop_order": table({"id": ID, "total": {**TOTAL, "null": True}})}
    assert diff(before, after) == ["~ shop_order: column total: null: False -> True"]
    assert diff(after, before) == ["~ shop_order: column total: null: True -> False"]


def test_changed_constraint_definition() -> None:
    loose = {**CHECK, "definition": "CHECK ((total >= ('-1'::integer)::numeric))"}
    before = {"shop_order": table(constraints={"check total_gte_0": CHECK})}
    after = {"shop_order": table(constraints={"check total_gte_0": loose})}
    assert compare(before, after).differences == [
        "~ shop_order: check total_gte_0: definition: "
        "'CHECK ((total >= (0)::numeric))' -> \"CHECK ((total >= ('-1'::integer)::numeric))\""
    ]


def test_sequences() -> None:
    before = {"shop_order": table(sequences=[("shop_order_id_seq", "id")])}
    after = {"shop_order": table(sequences=[])}
    assert diff(before, after) == [
        "~ shop_order: sequences [('shop_order_id_seq', 'id')] -> []",
    ]


def test_renames_are_paired_once_and_only_within_a_table() -> None:
    before = {
        "shop_order": table(constraints={"index a_idx": INDEX, "index b_idx": INDEX}),
        "shop_tag": table(constraints={"index t_idx": INDEX}),
    }
    after = {
        "shop_order": table(constraints={"index c_idx": INDEX}),
        "shop_tag": table(constraints={}),
    }
    result = compare(before, after)
    # One of the two identical indexes is the renamed one; the other is missing.
    assert result.renamed == [
        "= shop_order: index a_idx is now c_idx (same definition, another name)"
    ]
    assert result.differences == [
        "- shop_order: index b_idx (missing)",
        "- shop_tag: index t_idx (missing)",
    ]


def test_an_entry_without_a_kind_is_named_a_constraint() -> None:
    entry = {"columns": ["total"], "definition": "x"}
    before = {"shop_order": table(constraints={"old": entry})}
    after = {"shop_order": table(constraints={"new": entry})}
    assert compare(before, after).renamed == [
        "= shop_order: constraint old is now new (same definition, another name)"
    ]


def test_diff_lists_differences_then_renames() -> None:
    before = {"shop_order": table(constraints={"index a_idx": INDEX}), "shop_tag": table()}
    after = {"shop_order": table(constraints={"index b_idx": INDEX})}
    assert diff(before, after) == [
        "- table shop_tag (missing)",
        "= shop_order: index a_idx is now b_idx (same definition, another name)",
    ]


def test_quick_snapshot_entries_compare_the_same_way() -> None:
    """quick_snapshot() (SQLite) names SQLite's own indexes by what they cover."""

    def sqlite_table(unique_columns: list[str]) -> dict[str, Any]:
        label = f"({', '.join(unique_columns)})"
        return {
            "columns": {"id": {"type": "integer", "null": False, "default": None}},
            "constraints": {
                f"unique {label}": {
                    "kind": "unique",
                    "columns": unique_columns,
                    "orders": [False] * len(unique_columns),
                    "unique": True,
                    "partial": None,
                }
            },
            "sequences": [],
        }

    same = diff({"t": sqlite_table(["a", "b"])}, {"t": sqlite_table(["a", "b"])})
    other = compare({"t": sqlite_table(["a", "b"])}, {"t": sqlite_table(["b", "a"])})
    assert same == []
    assert other.renamed == []
    assert other.differences == ["- t: unique (a, b) (missing)", "+ t: unique (b, a) (left behind)"]
