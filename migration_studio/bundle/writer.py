"""Assemble every file of a bundle and write them: the SQL files, checks.sql, the documents,
report.json and bundle.json (with the hashes of the migration and the SQL files)."""

from __future__ import annotations

import json
from pathlib import Path

from ..risk.analysis import Report
from ..risk.report import report_json
from . import checksfile
from .documents import docstring_of, render_readme, rollback_plan
from .model import Bundle, sha256
from .sqlfile import render_down_sql, render_up_sql
from .store import bundle_dir, write_directory


def _checks_file(bundle: Bundle, existing: Path | None) -> str:
    previous = existing / "checks.sql" if existing else None
    custom = previous.read_text(encoding="utf-8") if previous and previous.exists() else ""
    return checksfile.render(bundle, checksfile.derive(bundle), checksfile.custom_part(custom))


def render_files(
    bundle: Bundle,
    migration_source: bytes,
    report: Report | None = None,
    existing: Path | None = None,
) -> dict[str, str]:
    """All files of the bundle, by name; fills ``bundle.hashes``."""
    files = {"up.sql": render_up_sql(bundle), "down.sql": render_down_sql(bundle)}
    bundle.hashes = {"migration": sha256(migration_source)}
    bundle.hashes.update({name: sha256(text) for name, text in files.items()})
    files["README.md"] = render_readme(bundle, report, docstring_of(migration_source))
    files["checks.sql"] = _checks_file(bundle, existing)
    if report is not None:
        files["report.json"] = report_json(report)
        files["rollback-plan.md"] = rollback_plan(bundle, report)
    files["bundle.json"] = json.dumps(bundle.to_dict(), indent=2, ensure_ascii=False) + "\n"
    return files


def write_bundle(
    bundle: Bundle, root: Path, migration_source: bytes, report: Report | None = None
) -> Path:
    """Write the bundle under ``root`` atomically (see :func:`.store.write_directory`)."""
    target = bundle_dir(root, bundle.app_label, bundle.migration_name)
    return write_directory(target, render_files(bundle, migration_source, report, existing=target))
