"""SQLite captures on a partial copy of the cached state: only the tables a capture needs.

The captured SQL and the errors must be those of a full copy; see
migration_studio/scratch/partialcopy.py.
"""

from __future__ import annotations

import sqlite3
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from migration_studio.scratch.partialcopy import PartialCopy

APP = "roundtrip"

INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel("Author", [("id", models.BigAutoField(primary_key=True))]),
        migrations.CreateModel("Book", [
            ("id", models.BigAutoField(primary_key=True)),
            ("author", models.ForeignKey("roundtrip.author", on_delete=models.CASCADE)),
            ("title", models.CharField(max_length=50)),
        ]),
        migrations.CreateModel("Note", [
            ("id", models.BigAutoField(primary_key=True)),
            ("book", models.ForeignKey("roundtrip.book", on_delete=models.CASCADE)),
        ]),
        migrations.CreateModel("Tag", [
            ("id", models.BigAutoField(primary_key=True)),
            ("name", models.CharField(max_length=50)),
        ], options={"indexes": [models.Index(fields=["name"], name="tag_name_ix")]}),
    ]
"""

CHANGE = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.AlterField("book", "title", models.CharField(max_length=80)),
        %s
    ]
"""


@pytest.fixture
def sqlite_only(vendor: str) -> None:
    if vendor != "sqlite":
        pytest.skip("partial copies are SQLite's")


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The tables each partial copy held when it was closed."""
    found: list[set[str]] = []
    close = PartialCopy.close

    def recording_close(self: PartialCopy) -> None:
        found.append(set(self.copied))
        close(self)

    monkeypatch.setattr(PartialCopy, "close", recording_close)
    return found


def bundle(packages, bundle_root: Path, extra: str = "", **options) -> tuple[str, str]:
    """(up.sql, output) of bundling 0002, or (None, the error)."""
    packages.create(APP, {"0001_initial": INITIAL, "0002_change": CHANGE % extra})
    out = StringIO()
    try:
        call_command("bundlemigration", APP, "0002", stdout=out, verbosity=2, **options)
    except CommandError as error:
        return "", str(error)
    return (bundle_root / APP / "0002_change" / "up.sql").read_text(), out.getvalue()


def test_a_warm_capture_copies_only_the_tables_it_needs(
    sqlite_only, packages, bundle_root, tmp_path, settings, copies
) -> None:
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "CACHE_DIR": tmp_path / "cache"}
    cold, _ = bundle(packages, bundle_root)  # builds and caches the parent state
    warm, out = bundle(packages, bundle_root)
    full, _ = bundle(packages, bundle_root, use_cache=False)

    assert "only the tables each capture needs" in out
    # Cold (after publishing) and warm: the book table, the table it points to and the one
    # pointing to it; not the tag table. The run without the cache copies nothing.
    assert copies == [{"roundtrip_author", "roundtrip_book", "roundtrip_note"}] * 2
    assert warm == cold == full


def test_a_name_taken_by_a_left_out_object_sends_the_capture_to_a_full_copy(
    sqlite_only, packages, bundle_root, tmp_path, settings
) -> None:
    """On the full copy the index cannot be created (its name is the tag table's index's)."""
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "CACHE_DIR": tmp_path / "cache"}
    taken = 'migrations.AddIndex("book", models.Index(fields=["title"], name="tag_name_ix")),'
    _, cold = bundle(packages, bundle_root, taken)
    _, warm = bundle(packages, bundle_root, taken)
    _, full = bundle(packages, bundle_root, taken, use_cache=False)

    assert "index tag_name_ix already exists" in full
    assert warm == cold == full


def test_a_state_with_views_or_triggers_is_never_copied_in_part(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE a (id integer PRIMARY KEY)")
    copy = PartialCopy.open(path)
    assert copy is not None
    copy.close()
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE VIEW v AS SELECT id FROM a")
    assert PartialCopy.open(path) is None
