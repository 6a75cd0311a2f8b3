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
    if result.apply is not None:
        lines.extend(_applied(result.apply))
    return "\n".join(lines) + "\n"


def _line(check: GateCheck, indent: str) -> str:
    rule = f" {check.rule}" if check.rule else ""
    return f"{indent}{MARKS[check.status]:<8} {check.name}{rule}: {check.message}"


def _applied(report: dict) -> list[str]:
    lines = ["Applied (--apply):"]
    for step in report["steps"]:
        line = f"  {step['migration']}: {step['status']}"
        if step["attempts"]:
            line += f" ({step['attempts']} attempt(s), {step['seconds']:.1f}s)"
        if step["error"]:
            line += f": {step['error']}"
        lines.append(line)
        lines.extend(f"    ran and stays: {sql}" for sql in step["committed"])
    outcome = {
        "applied": "Every migration of the plan is applied.",
        "rolled back": f"Rolled back to the state before the run, because {report['reason']}.",
        "failed": f"FAILED: {report['reason']}; the rollback did not complete: "
        f"{report['rollback_error']}.",
    }[report["outcome"]]
    lines.append(outcome)
    return lines
