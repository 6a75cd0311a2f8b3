"""Keep the bundle records in step with the files when the admin opens the list: only bundles
whose files changed (size or modification time, see
:func:`~migration_studio.validation.records.signature`) are read again, so opening a list of a
thousand unchanged bundles costs one query and a few thousand ``stat`` calls."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from django.db import DatabaseError, transaction
from django.utils.dateparse import parse_datetime

from ..exceptions import BundleError, RecordsUnavailable
from ..models import MigrationBundle, ValidationRun
from ..validation.records import read_json, signature, step_summary, sync_bundle


@dataclass
class SyncResult:
    read: int = 0
    removed: int = 0
    #: (directory, why) of each bundle directory that could not be read; its record is kept.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: Why nothing could be listed (the bundle root itself is unreadable), or "".
    problem: str = ""


def bundle_directories(root: Path, result: SyncResult) -> dict[tuple[str, str], Path]:
    """Every ``<root>/<app>/<migration>/`` holding a bundle.json, by (app, migration)."""
    found: dict[tuple[str, str], Path] = {}
    try:
        apps = sorted(entry.path for entry in os.scandir(root) if entry.is_dir())
    except FileNotFoundError:
        return found
    except OSError as error:
        result.problem = f"The bundle directory {root} cannot be read ({error.strerror})."
        return found
    for app in apps:
        try:
            children = sorted(entry.name for entry in os.scandir(app) if entry.is_dir())
        except OSError as error:
            result.unreadable.append((app, error.strerror or str(error)))
            continue
        app_label = os.path.basename(app)
        for name in children:
            if os.path.isfile(os.path.join(app, name, "bundle.json")):
                found[(app_label, name)] = Path(app, name)
    return found


def refresh(root: Path, only: set[int] | None = None) -> SyncResult:
    """Bring the records up to date with the bundles under ``root``.

    Records whose files did not change are left alone; records of bundles that are gone are
    deleted (approvals are not: they are kept by migration and content). ``only`` re-reads the
    given records whatever their signature says (the admin's "re-sync" action).
    """
    result = SyncResult()
    found = bundle_directories(Path(root), result)
    if result.problem:
        return result
    try:
        known = {
            (app_label, name): (pk, sign, file)
            for pk, app_label, name, sign, file in MigrationBundle.objects.values_list(
                "pk", "app_label", "migration_name", "signature", "migration_file"
            )
        }
    except DatabaseError as error:
        raise RecordsUnavailable(str(error).strip().splitlines()[0]) from None
    changed = [
        path
        for key, path in found.items()
        if key not in known
        or (only is not None and known[key][0] in only)
        or known[key][1] != signature(path, known[key][2] or None)
    ]
    if changed:
        with transaction.atomic(using=MigrationBundle.objects.db):  # one commit for them all
            for path in changed:
                try:
                    record = sync_bundle(path)  # reads every file before it writes
                except BundleError as error:
                    result.unreadable.append((str(path), str(error)))
                    continue
                import_validation(record, path)
                result.read += 1
    unreadable_dirs = {Path(directory) for directory, _ in result.unreadable}
    gone = [
        pk
        for key, (pk, _, _) in known.items()
        if key not in found
        and not ({Path(root) / key[0], Path(root) / key[0] / key[1]} & unreadable_dirs)
    ]
    if gone:
        MigrationBundle.objects.filter(pk__in=gone).delete()
        result.removed = len(gone)
    return result


def import_validation(record: MigrationBundle, path: Path) -> None:
    """Record the bundle's validation.json as a run when it is not recorded yet (a bundle
    validated elsewhere, e.g. in CI, and committed with its result)."""
    data = read_json(path / "validation.json")
    started = parse_datetime(str(data.get("started_at") or ""))
    finished = parse_datetime(str(data.get("finished_at") or "")) or started
    status = data.get("status")
    if not started or status not in ValidationRun.Status.values:
        return
    content = str(data.get("content_sha256") or "")
    if record.validations.filter(started_at=started, content_sha256=content).exists():
        return
    ValidationRun.objects.create(
        bundle=record,
        content_sha256=content,
        started_at=started,
        finished_at=finished,
        vendor=str(data.get("vendor") or ""),
        server_version=str(data.get("server_version") or ""),
        status=status,
        error=str(data.get("error") or ""),
        steps=_list(data.get("steps")),
        step_summary=step_summary(_list(data.get("steps"))),
        checks=_list(data.get("checks")),
        schema_diff=_list(data.get("schema_diff")),
        locks=_list(data.get("locks")),
        sample_rows=int(data.get("sample_rows") or 0),
    )


def _list(value: object) -> list:
    return value if isinstance(value, list) else []
