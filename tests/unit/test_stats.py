"""The stats file's formats and the backfill estimate: what a row count, an index count and a
column's NULL fraction give (no server: the sizes are written by hand, as a user may)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migration_studio.risk import estimate
from migration_studio.risk.stats import STATS_FORMAT, Stats, TableStats, from_file, write_file


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "prod-stats.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_a_format_1_file_still_loads_with_index_counts_and_null_fractions_unknown(
    tmp_path: Path,
) -> None:
    stats = from_file(write(tmp_path, {"format": 1, "tables": {"shop_order": {"rows": 3000}}}))
    assert stats.rows("shop_order") == 3000
    assert stats.indexes("shop_order") is None
    assert stats.null_fraction("shop_order", "note") is None


def test_a_written_file_keeps_index_counts_and_null_fractions(tmp_path: Path) -> None:
    stats = Stats(
        {
            "shop_order": TableStats(
                3_000_000, 8192, 4096, indexes=4, null_fractions={"note": 0.25, "coupon": 1.0}
            ),
            "shop_tag": TableStats(10),
        },
        vendor="postgresql",
    )
    path = tmp_path / "stats.json"
    write_file(stats, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == STATS_FORMAT == 2
    assert data["tables"]["shop_order"]["indexes"] == 4
    assert list(data["tables"]["shop_order"]["null_fractions"]) == ["coupon", "note"]
    again = from_file(path)
    assert again.indexes("shop_order") == 4
    assert again.null_fraction("shop_order", "note") == 0.25
    assert again.null_fraction("shop_order", "total") is None
    assert again.indexes("shop_tag") is None
    assert again.null_fraction("shop_tag", "name") is None


def test_a_hand_written_format_2_file_needs_only_rows(tmp_path: Path) -> None:
    stats = from_file(
        write(
            tmp_path,
            {"format": 2, "tables": {"shop_order": {"rows": 10, "null_fractions": {"note": 0}}}},
        )
    )
    assert stats.null_fraction("shop_order", "note") == 0.0
    assert stats.indexes("shop_order") is None


def test_a_backfill_costs_an_index_entry_per_changed_row_and_index() -> None:
    rates = estimate.DEFAULT_RATES["postgresql"]
    one, six = (estimate.backfill_seconds(1_000_000, 1_000_000, n, "postgresql") for n in (1, 6))
    assert six - one == pytest.approx(5 * 1_000_000 / rates["backfill_index"])
    assert estimate.seconds("backfill", 1_000_000, "postgresql", indexes=6) == six
    assumed = estimate.backfill_seconds(1_000_000, 1_000_000, None, "postgresql")
    assert assumed == estimate.backfill_seconds(
        1_000_000, 1_000_000, estimate.DEFAULT_INDEXES, "postgresql"
    )


def test_a_backfill_of_a_tenth_of_the_rows_reads_them_all_and_writes_a_tenth() -> None:
    rates = estimate.DEFAULT_RATES["postgresql"]
    tenth = estimate.backfill_seconds(1_000_000, 100_000, 3, "postgresql")
    whole = estimate.backfill_seconds(1_000_000, 1_000_000, 3, "postgresql")
    assert tenth == pytest.approx(
        estimate.OVERHEAD
        + 900_000 / rates["scan"]
        + 100_000 / rates["backfill"]
        + 300_000 / rates["backfill_index"]
    )
    assert 0.1 < tenth / whole < 0.15
