"""Command-line inputs of the analysis: where table sizes come from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..exceptions import StatsError
from .stats import Stats, from_database, from_file, warnings_for


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


def load(
    options: dict[str, Any],
    vendor: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> Stats:
    """The stats the options ask for; empty stats (sizes unknown) when none.

    Everything is read and checked here, before any capture: a bad file is a :class:`StatsError`.
    With ``vendor`` (the capture database's), ``warn`` gets what the user should know about
    using these sizes for that vendor's SQL.
    """
    if options.get("stats_from"):
        stats = from_database(options["stats_from"])
    elif options.get("stats_file"):
        stats = from_file(Path(options["stats_file"]))
    else:
        return Stats()
    if vendor and warn:
        for message in warnings_for(stats, vendor):
            warn(message)
    return stats


__all__ = ["StatsError", "add_arguments", "load"]
