"""Keep the database records (MigrationBundle, ValidationRun) in step with the bundle files."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from django.db import DatabaseError, router
from django.utils.dateparse import parse_datetime

from ..bundle.model import sha256
from ..bundle.store import load_bundle
from ..exceptions import BundleError, RecordsUnavailable
from ..models import Approval, MigrationBundle, ValidationRun
from .freshness import migration_file, stale_files
from .result import ValidationResult, content_hash


def bundle_paths(root: Path) -> list[Path]:
    """Every bundle directory under ``root``, sorted."""
    return sorted(p.parent for p in Path(root).glob("*/*/bundle.json"))


#: The files a bundle's record is read from: when none of them (nor the migration file) changed
#: size or modification time, the record is up to date.
SIGNED_FILES = ("bundle.json", "up.sql", "down.sql", "checks.sql", "report.json", "validation.json")


def signature(path: Path, migration_file: str | Path | None) -> str:
    """A digest of the size and modification time of the bundle's files and its migration file
    (missing files count too): what a cheap sync compares before reading anything."""
    parts = []
    for file in [*(path / name for name in SIGNED_FILES), migration_file]:
        try:
            stat = Path(file).stat() if file else None
        except OSError:
            stat = None
        parts.append(f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "-")
    return sha256("|".join(parts))


def sync_bundle(path: Path) -> MigrationBundle:
    """The bundle's record, created or updated from its files."""
    bundle = load_bundle(path)
    report = read_json(path / "report.json")
    created = parse_datetime(bundle.created_at) or datetime.datetime.now(datetime.UTC)
    file = migration_file(bundle.app_label, bundle.migration_name)
    stale = stale_files(bundle, path, file)
    counts = report.get("counts")
    try:
        record, _ = MigrationBundle.objects.update_or_create(
            app_label=bundle.app_label,
            migration_name=bundle.migration_name,
            defaults={
                "path": str(path),
                "migration_sha256": bundle.hashes.get("migration", ""),
                "up_sha256": bundle.hashes.get("up.sql", ""),
                "down_sha256": bundle.hashes.get("down.sql", ""),
                "reversible": bundle.reversible,
                "risk": str(report.get("risk") or ""),
                "forward_risk": str(report.get("forward_risk") or ""),
                "counts": counts if isinstance(counts, dict) else {},
                "vendor": bundle.vendor,
                "operations": len(bundle.operations),
                "created_at": created,
                "content_sha256": content_hash(path),
                "stale": bool(stale),
                "stale_reason": "; ".join(stale)[:300],
                "migration_file": str(file or ""),
                "signature": signature(path, file),
            },
        )
    except DatabaseError as error:
        raise RecordsUnavailable(_why(error)) from None
    return record


def read_json(file: Path) -> dict[str, Any]:
    """The JSON object in ``file``; {} when it is missing, unreadable or not an object."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def sync_bundles(root: Path) -> list[MigrationBundle]:
    """Records for every bundle under ``root``; records of bundles that are gone are deleted."""
    records, unreadable = [], []
    for path in bundle_paths(root):
        try:
            records.append(sync_bundle(path))
        except BundleError:
            unreadable.append((path.parent.name, path.name))  # kept: the files still exist
    try:
        gone = MigrationBundle.objects.exclude(pk__in=[r.pk for r in records])
        for app_label, migration_name in unreadable:
            gone = gone.exclude(app_label=app_label, migration_name=migration_name)
        gone.delete()
    except DatabaseError as error:
        raise RecordsUnavailable(_why(error)) from None
    return records


def prune_records(root: Path) -> int:
    """Delete the records of bundles whose directory is gone; returns how many."""
    present = {(p.parent.name, p.name) for p in bundle_paths(root)}
    try:
        stale = [
            pk
            for pk, app_label, migration_name in MigrationBundle.objects.values_list(
                "pk", "app_label", "migration_name"
            )
            if (app_label, migration_name) not in present
        ]
        if stale:
            MigrationBundle.objects.filter(pk__in=stale).delete()
    except DatabaseError as error:
        raise RecordsUnavailable(_why(error)) from None
    return len(stale)


def has_passed(path: Path, content_sha256: str) -> bool:
    """A passing validation of exactly this content exists (in the records or validation.json)."""
    file = path / "validation.json"
    if file.exists():
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if data.get("status") == "passed" and data.get("content_sha256") == content_sha256:
                return True
        except ValueError:
            pass
    try:
        return ValidationRun.objects.filter(
            content_sha256=content_sha256, status=ValidationRun.Status.PASSED
        ).exists()
    except DatabaseError:
        return False


def approve(path: Path, username: str, comment: str = "") -> Approval:
    """Record ``username``'s approval of the bundle in ``path`` as its files are now."""
    bundle = load_bundle(path)
    try:
        return Approval.objects.create(
            app_label=bundle.app_label,
            migration_name=bundle.migration_name,
            content_sha256=content_hash(path),
            approved_by=username,
            comment=comment,
        )
    except DatabaseError as error:
        raise RecordsUnavailable(_why(error)) from None


def approval_of(path: Path, content_sha256: str) -> Approval | None:
    """The latest approval of exactly this content of the bundle in ``path`` (None: there is
    none, or the records cannot be read)."""
    try:
        return Approval.objects.filter(
            app_label=path.parent.name, migration_name=path.name, content_sha256=content_sha256
        ).first()
    except DatabaseError:
        return None


def last_failure(path: Path, content_sha256: str) -> str | None:
    """Why the bundle's last validation of exactly this content failed (validation.json), or
    None when it did not fail or there is none."""
    try:
        data = json.loads((path / "validation.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("status") == "passed" or data.get("content_sha256") != content_sha256:
        return None
    error = str(data.get("error") or "").strip()
    return error.splitlines()[0] if error else str(data.get("status"))


def record_validation(path: Path, result: ValidationResult) -> ValidationRun:
    record = sync_bundle(path)
    data = result.to_dict()
    try:
        return ValidationRun.objects.create(
            bundle=record,
            content_sha256=result.content_sha256,
            started_at=parse_datetime(result.started_at),
            finished_at=parse_datetime(result.finished_at),
            vendor=result.vendor,
            server_version=result.server_version,
            status=result.status,
            error=result.error,
            steps=data["steps"],
            checks=data["checks"],
            schema_diff=result.schema_diff,
            locks=data["locks"],
            sample_rows=result.sample_rows,
        )
    except DatabaseError as error:
        raise RecordsUnavailable(_why(error)) from None


def _why(error: DatabaseError) -> str:
    alias = router.db_for_write(MigrationBundle)
    first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    return (
        f"cannot record results in database '{alias}' ({first}); run "
        "'manage.py migrate migration_studio' to create the app's tables"
    )
