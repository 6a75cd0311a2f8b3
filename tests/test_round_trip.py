"""Round trips: for each kind of model change, up.sql gives migrate's schema, down.sql undoes it.

Each case writes the app's base migration and one migration with the change into a temporary
package, bundles the change, then runs the bundle's SQL with the database's own command-line client.
"""

from __future__ import annotations

import difflib

import pytest
from django.core.management import call_command

from migration_studio.bundle.store import load_bundle

from .cases import APP, CASES, Case, base_operations
from .conftest import assert_round_trip, migration_source


def write_case(packages, case: Case) -> None:
    """The app's history: the base migration, then the case's change as 0002_change."""
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_change": migration_source(
                APP, "0002_change", case.operations, [(APP, "0001_initial")]
            ),
        },
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_round_trip(case: Case, packages, bundle_root, vendor) -> None:
    write_case(packages, case)
    call_command("bundlemigration", APP, "0002", verbosity=0)

    bundle = assert_round_trip(
        bundle_root / APP / "0002_change", parent=(APP, "0001_initial"), target=(APP, "0002_change")
    )

    assert bundle.reversible
    forward = "\n".join(s for op in bundle.operations for s in op.all_forward_sql)
    reverse = "\n".join(s for op in bundle.operations for s in op.all_reverse_sql)
    if vendor in case.forward_contains:
        assert case.forward_contains[vendor] in forward
    if vendor in case.reverse_contains:
        assert case.reverse_contains[vendor] in reverse


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reduced_state_captures_the_same_sql_as_the_full_state(
    case: Case, packages, bundle_root, monkeypatch
) -> None:
    """Captures render only the models a migration can see; the SQL must be the same."""
    from migration_studio.capture.session import CaptureSession

    write_case(packages, case)

    def captured() -> list[tuple]:
        call_command("bundlemigration", APP, "0002", verbosity=0)
        bundle = load_bundle(bundle_root / APP / "0002_change")
        return [
            (op.forward_sql, op.deferred_forward_sql, op.reverse_sql, op.deferred_reverse_sql)
            for op in bundle.operations
        ]

    reduced = captured()
    monkeypatch.setattr(CaptureSession, "reduce_state", False)
    full = captured()
    assert full == reduced, "\n".join(
        difflib.unified_diff(
            [str(s) for op in full for part in op for s in (part or [])],
            [str(s) for op in reduced for part in op for s in (part or [])],
            lineterm="",
        )
    )
