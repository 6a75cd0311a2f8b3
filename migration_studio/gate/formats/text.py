"""Human text (the default) and JSON (``GateResult.to_dict``, documented and versioned)."""

from __future__ import annotations

import json

from ..result import FAIL, GateCheck, GateResult

MARKS = {"pass": "ok", "skip": "skipped", "warn": "WARNING", "fail": "FAILED"}


def json_text(result: GateResult) -> str:
    # Sample rows may hold dates or decimals: written as text.
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


def text(result: GateResult) -> str:
    lines = [f"Release gate on {result.server} (database '{result.database}'):"]
    if not result.migrations:
        lines.append("  Nothing to apply: the database is up to date.")
    for check in result.checks:
        lines.append(_line(check, "  "))
    for migration in result.migrations:
        lines.append(
            f"  {migration.label} ({migration.file}): {MARKS[migration.status]}, deploying risk "
            f"{migration.risk}"
        )
        lines.extend(_line(check, "    ") for check in migration.checks)
    failed = sum(1 for m in result.migrations if m.status == FAIL) + sum(
        1 for c in result.checks if c.status == FAIL
    )
    verdict = (
        "PASS: the plan may be deployed."
        if result.passed
        else f"FAIL: the gate says no ({failed} failing item(s))."
    )
    if result.override:
        verdict += f" Overridden for --apply: {result.override}"
    lines.append(verdict)
    return "\n".join(lines) + "\n"


def _line(check: GateCheck, indent: str) -> str:
    rule = f" {check.rule}" if check.rule else ""
    return f"{indent}{MARKS[check.status]:<8} {check.name}{rule}: {check.message}"
