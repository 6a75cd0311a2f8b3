"""The unit layer runs without a database server: it needs no database at all.

``tests/conftest.py`` makes sure the suite's PostgreSQL databases exist before the session starts
(when ``DATABASE_URL`` points at a server). Nothing here touches a database, so that fixture is
replaced by one that does nothing, and pytest-django keeps refusing database access to every test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _database_access() -> Iterator[None]:
    yield
