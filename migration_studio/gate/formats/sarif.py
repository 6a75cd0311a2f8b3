"""SARIF 2.1.0 (code scanning): a result per failing or warning item; rule ids are the risk rules'
(MS131) or the gate's own checks (predeploycheck/fresh)."""

from __future__ import annotations

import json
from typing import Any

from ... import __version__
from ..result import FAIL, WARN, GateCheck, GateResult, MigrationVerdict

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
GATE_CHECKS = {
    "bundle": "The migration has a bundle for the target's database vendor",
    "fresh": "The migration file and SQL files match the bundle",
    "validated": "The bundle as it is now passed validatemigration",
    "approved": "A reviewer approved the bundle as it is now",
    "risk": "The deploying risk is within the policy",
    "blocking-rule": "No finding of a rule the policy always blocks",
    "lock-budget": "No table blocked longer than the policy's lock budget",
    "preflight": "The live data keeps the migration's promises",
    "live-locks": "No session would make the migration queue",
    "sizes": "Live table sizes could be read",
    "drift": "The live schema matches its applied migrations",
}


def sarif(result: GateResult) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for migration, check in result.all_checks():
        if check.status not in (FAIL, WARN):
            continue
        rule_id = check.rule or f"predeploycheck/{check.name}"
        rules.setdefault(rule_id, _rule(rule_id, check))
        results.append(_result(rule_id, migration, check))
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "migration_studio predeploycheck",
                        "version": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                "properties": {"verdict": result.status, "database": result.database},
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _rule(rule_id: str, check: GateCheck) -> dict[str, Any]:
    description = (
        check.details.get("title", check.rule) if check.rule else GATE_CHECKS.get(check.name)
    )
    rule: dict[str, Any] = {
        "id": rule_id,
        "shortDescription": {"text": description or check.name},
    }
    if check.help_url:
        rule["helpUri"] = check.help_url
    return rule


def _result(rule_id: str, migration: MigrationVerdict | None, check: GateCheck) -> dict[str, Any]:
    found: dict[str, Any] = {
        "ruleId": rule_id,
        "level": "error" if check.status == FAIL else "warning",
        "message": {"text": check.message},
    }
    if migration is not None:
        region = {"startLine": check.line or 1}
        found["locations"] = [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": migration.file.replace("\\", "/")},
                    "region": region,
                }
            }
        ]
    return found
