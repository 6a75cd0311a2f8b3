"""Each run of the gate is kept as a :class:`~migration_studio.models.DeploymentCheck` record,
in the app's own table on the database the routers choose for it, for the admin to show; its
verdict on each migration is kept beside it (:class:`~migration_studio.models.GateVerdict`), so
the bundle list shows each bundle's last verdict with one query."""

from __future__ import annotations

import json
from typing import Any

from django.db import DatabaseError, router, transaction

from ..models import DeploymentCheck, GateVerdict
from .formats.text import json_text
from .result import GateResult


def record(result: GateResult) -> str | None:
    """Save the run; a sentence saying why it could not be saved, or None."""
    data = json.loads(json_text(result))  # plain JSON: sample rows may hold dates and decimals
    alias = router.db_for_write(DeploymentCheck) or "default"
    try:
        with transaction.atomic(using=alias):
            _save(result, data, alias)
    except DatabaseError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return (
            f"The run was not recorded in database '{alias}' ({first}); run manage.py migrate "
            "migration_studio there to keep a history of the gate's runs."
        )
    return None


def _save(result: GateResult, data: dict[str, Any], alias: str) -> None:
    check = DeploymentCheck.objects.using(alias).create(
        database=result.database,
        server=result.server,
        vendor=result.vendor,
        tool_version=result.tool_version,
        verdict=result.status,
        passed=result.passed,
        plan=data["plan"],
        result=data,
        override=result.override,
    )
    GateVerdict.objects.using(alias).bulk_create(
        GateVerdict(
            deployment_check=check,
            app_label=migration.app_label,
            migration_name=migration.name,
            status=migration.status,
        )
        for migration in result.migrations
    )
