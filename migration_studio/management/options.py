"""Options several commands share, declared once so they read the same everywhere."""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

CAPTURE_DATABASE = (
    "The database whose server hosts the scratch database used to capture SQL and whose SQL "
    'dialect is captured. Defaults to the "default" database.'
)


def add_database(parser: Any, help: str = CAPTURE_DATABASE) -> None:
    parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help=help)


def add_no_cache(parser: Any) -> None:
    parser.add_argument(
        "--no-cache",
        action="store_false",
        dest="use_cache",
        help="Build the scratch database from scratch instead of reusing a cached state.",
    )
