"""Each run of the gate is kept as a :class:`~migration_studio.models.DeploymentCheck` record,
in the app's own table on the database the routers choose for it, for the admin to show."""

from __future__ import annotations

import json

from django.db import DatabaseError, router

from ..models import DeploymentCheck
from .formats.text import json_text
from .result import GateResult


def record(result: GateResult) -> str | None:
    """Save the run; a sentence saying why it could not be saved, or None."""
    data = json.loads(json_text(result))  # plain JSON: sample rows may hold dates and decimals
    try:
        DeploymentCheck.objects.create(
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
    except DatabaseError as error:
        alias = router.db_for_write(DeploymentCheck) or "default"
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return (
            f"The run was not recorded in database '{alias}' ({first}); run manage.py migrate "
            "migration_studio there to keep a history of the gate's runs."
        )
    return None
