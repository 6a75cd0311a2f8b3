"""The reference documentation says what the files really hold."""

from __future__ import annotations

import json
import re

from django.core.management import call_command
from django.db import migrations, models

from .cases import APP, base_operations
from .conftest import REPO, migration_source


def documented_keys(page: str, heading: str) -> list[str]:
    """The keys of the first table after the line ``heading`` of ``docs/<page>``, in order."""
    text = (REPO / "docs" / page).read_text()
    table = text.split(heading, 1)[1].split("\n\n", 2)[1]
    return re.findall(r"^``(\w+)``", table, re.M)


def test_bundle_json_keys_are_in_the_documented_order(packages, bundle_root) -> None:
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_change": migration_source(
                APP,
                "0002_change",
                [
                    migrations.AddField(
                        "book", "subtitle", models.CharField(max_length=9, null=True)
                    )
                ],
                [(APP, "0001_initial")],
            ),
        },
    )
    call_command("bundlemigration", APP, "0002", verbosity=0)
    data = json.loads((bundle_root / APP / "0002_change" / "bundle.json").read_text())
    assert list(data) == documented_keys(
        "bundle-format.rst", "A JSON object (UTF-8, indented by two spaces) with these keys"
    )
    assert list(data["operations"][0]) == documented_keys(
        "bundle-format.rst", "Each element of ``operations``, with these keys, in this order:"
    )
