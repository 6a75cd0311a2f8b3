"""Command-line inputs of the analysis: where table sizes come from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .stats import Stats, StatsError, from_database, from_file


def add_arguments(parser: Any) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--stats-from",
        metavar="ALIAS",
        help="Read table sizes (row counts, relation sizes) from this database, read-only, to "
        "estimate locks and durations. Typically a replica of production.",
    )
    group.add_argument(
        "--stats-file",
        metavar="PATH",
        help="Read table sizes from a file written by 'manage.py exportstats' (on production).",
    )


def load(options: dict[str, Any]) -> Stats:
    """The stats the options ask for; empty stats (sizes unknown) when none."""
    if options.get("stats_from"):
        return from_database(options["stats_from"])
    if options.get("stats_file"):
        return from_file(Path(options["stats_file"]))
    return Stats()


__all__ = ["StatsError", "add_arguments", "load"]
