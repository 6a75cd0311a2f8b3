"""Bundle directories are replaced whole, also when another run writes the same bundle meanwhile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migration_studio.bundle import store as bundle_module


def test_a_bundle_moved_in_by_another_run_meanwhile_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "shop" / "0005_x"
    staged = tmp_path / "shop" / ".0005_x.staged"
    staged.mkdir(parents=True)
    (staged / "bundle.json").write_text("ours")
    real_replace = os.replace
    calls = []

    def other_run_first(source, destination):
        # The other run's bundle lands between our check and our rename.
        if not calls and Path(destination) == target:
            target.mkdir()
            (target / "bundle.json").write_text("theirs")
        calls.append((source, destination))
        return real_replace(source, destination)

    monkeypatch.setattr(bundle_module.os, "replace", other_run_first)
    bundle_module._replace_directory(staged, target)
    assert (target / "bundle.json").read_text() == "ours"
    assert sorted(p.name for p in target.parent.iterdir()) == ["0005_x"]
