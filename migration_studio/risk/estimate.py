"""How long a statement's work takes, from the row count: a documented, calibratable model.

Each kind of work has a throughput in rows per second per backend; the estimate is
``rows / rate`` plus a fixed overhead. The defaults were measured on this project's benchmark
(``benchmarks/estimate_accuracy.py``, a 1M-row PostgreSQL table) and can be calibrated for your
hardware with ``MIGRATION_STUDIO["ESTIMATE_RATES"]``, e.g. ``{"postgresql": {"rewrite": 400_000}}``.
"""

from __future__ import annotations

from .. import conf

#: Kinds of work: a full read of the table; rewriting every row (and rebuilding its indexes); an
#: index build; an UPDATE touching every row (a backfill); validating a foreign key (a scan with a
#: lookup per row); copying a table (SQLite's rebuilds).
WORK_KINDS = ("scan", "rewrite", "index", "backfill", "validate_fk", "copy")

DEFAULT_RATES: dict[str, dict[str, float]] = {
    "postgresql": {
        "scan": 10_000_000,
        "rewrite": 500_000,
        "index": 1_500_000,
        "backfill": 100_000,
        "validate_fk": 5_000_000,
        "copy": 800_000,
    },
    "mysql": {
        "scan": 4_000_000,
        "rewrite": 500_000,
        "index": 800_000,
        "backfill": 200_000,
        "validate_fk": 800_000,
        "copy": 400_000,
    },
    "sqlite": {
        "scan": 10_000_000,
        "rewrite": 2_000_000,
        "index": 2_000_000,
        "backfill": 1_500_000,
        "validate_fk": 2_000_000,
        "copy": 2_000_000,
    },
}
#: Seconds every statement costs however small the table (catalog updates, lock acquisition).
OVERHEAD = 0.002


def rates(vendor: str) -> dict[str, float]:
    merged = dict(DEFAULT_RATES.get(vendor, DEFAULT_RATES["postgresql"]))
    merged.update((conf.get("ESTIMATE_RATES") or {}).get(vendor, {}))
    return merged


def seconds(kind: str | None, rows: int | None, vendor: str) -> float | None:
    """Estimated duration of ``kind`` of work on ``rows`` rows; None when the size is unknown."""
    if kind is None:
        return OVERHEAD
    if rows is None:
        return None
    return OVERHEAD + rows / rates(vendor)[kind]
