"""squawk as a yardstick: every squawk finding about locks, rewrites, scans, constraints, drops or
renames on our up.sql is matched by a finding of ours on the same statement.

squawk (PyPI ``squawk-cli``) reads SQL only; we also know the operation and the table sizes, so we
may judge a statement lower (e.g. a binary-coercible type change is not a rewrite), but we must not
miss it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import migrations, models
from django.db.models import Q

from .cases import APP, CASES, base_operations
from .conftest import migration_source

#: squawk rule -> our rules that cover the same statement.
MATCHES = {
    "require-concurrent-index-creation": {"MS131"},
    "require-concurrent-index-deletion": {"MS132"},
    "constraint-missing-not-valid": {"MS122", "MS123", "MS105", "MS124"},
    "adding-foreign-key-constraint": {"MS105", "MS102", "MS123"},
    "adding-field-with-default": {"MS112", "MS101", "MS151"},
    "adding-not-nullable-field": {"MS121", "MS151"},
    "adding-required-field": {"MS151"},
    "changing-column-type": {"MS111", "MS101"},
    "disallowed-unique-constraint": {"MS124"},
    "adding-primary-key-constraint": {"MS124"},
    "ban-drop-column": {"MS152"},
    "ban-drop-table": {"MS153"},
    "ban-drop-constraint": {"MS101", "MS102"},
    "ban-drop-default": {"MS151"},
    "ban-drop-not-null": {"MS101"},
    "renaming-column": {"MS154"},
    "renaming-table": {"MS154"},
    "renaming-object": {"MS154"},
    "require-lock-timeout": {"MS103", "MS101"},
}
#: squawk rules outside the yardstick's scope: schema style and statement robustness, not locks,
#: rewrites, scans, constraints, drops or renames (listed so a new squawk rule fails loudly).
OUT_OF_SCOPE = {
    "prefer-robust-stmts",
    "prefer-text-field",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-big-int",
    "prefer-identity",
    "prefer-timestamptz",
    "ban-char-field",
    "require-statement-timeout",
    "transaction-nesting",
    "ban-concurrent-index-creation-in-transaction",
}

EXTRA_CASES = {
    "check_and_unique": [
        migrations.AddConstraint(
            "book", models.CheckConstraint(condition=Q(pages__gte=0), name="pages_gte_0")
        ),
        migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True)),
    ],
    "fk_on_existing_column": [
        migrations.RunSQL(
            "ALTER TABLE roundtrip_note ADD CONSTRAINT nb_fk FOREIGN KEY (book_id) "
            "REFERENCES roundtrip_book (id)",
            reverse_sql="ALTER TABLE roundtrip_note DROP CONSTRAINT nb_fk",
        ),
    ],
    "renames_and_drops": [
        migrations.RenameField("book", "pages", "page_count"),
        migrations.AlterModelTable("tag", "roundtrip_label"),
        migrations.RemoveField("author", "email"),
        migrations.DeleteModel("note"),
    ],
}
SCENARIOS = {case.id: case.operations for case in CASES} | EXTRA_CASES


@pytest.fixture
def postgresql(vendor) -> None:
    if vendor != "postgresql":
        pytest.skip("squawk reads PostgreSQL SQL")


@pytest.fixture
def squawk() -> str:
    beside_python = Path(sys.executable).parent / "squawk"
    path = str(beside_python) if beside_python.exists() else shutil.which("squawk")
    if path is None:
        pytest.fail("squawk is not installed (pip install squawk-cli, part of the dev extra)")
    return path


def squawk_findings(squawk: str, up_sql: Path) -> list[dict]:
    result = subprocess.run(
        [squawk, "--reporter", "json", str(up_sql)], capture_output=True, text=True, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout or "[]")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_squawk_finding_is_matched(
    scenario, postgresql, squawk, packages, bundle_root, vendor, tmp_path
) -> None:
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_change": migration_source(
                APP, "0002_change", SCENARIOS[scenario], [(APP, "0001_initial")]
            ),
        },
    )
    stats = tmp_path / "stats.json"
    stats.write_text(
        json.dumps(
            {
                "format": 1,
                "tables": {
                    t: {"rows": 1_000_000}
                    for t in (
                        "roundtrip_author",
                        "roundtrip_book",
                        "roundtrip_note",
                        "roundtrip_tag",
                    )
                },
            }
        )
    )
    call_command("bundlemigration", APP, "0002", stats_file=str(stats), verbosity=0)
    path = bundle_root / APP / "0002_change"
    lines = (path / "up.sql").read_text().splitlines()
    ours = json.loads((path / "report.json").read_text())["findings"]

    unmatched = []
    for finding in squawk_findings(squawk, path / "up.sql"):
        rule = finding["rule_name"]
        if rule in OUT_OF_SCOPE:
            continue
        assert rule in MATCHES, f"squawk rule {rule} is not classified: {finding['message']}"
        line = lines[finding["line"]].strip()
        covering = [
            f
            for f in ours
            if f["rule"] in MATCHES[rule]
            and any(s.strip() in line or line in s for s in f["statements"])
        ]
        if not covering:
            unmatched.append(f"{rule} on: {line}")
    assert not unmatched, "\n".join(unmatched)
