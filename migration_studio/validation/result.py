"""What a validation found: each step with its statements (timings, locks), the checks, the
schema comparison; written to the bundle as ``validation.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..bundle.model import sha256

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
#: A step Ctrl-C (or SIGTERM) stopped: never written to validation.json (nothing is, then).
INTERRUPTED = "interrupted"


@dataclass
class StatementRun:
    sql: str
    seconds: float
    operation: int | None = None
    locks: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Step:
    name: str
    status: str = PASSED
    seconds: float = 0.0
    detail: str = ""
    statements: list[StatementRun] = field(default_factory=list)


@dataclass
class CheckResult:
    description: str
    sql: str
    violations: int
    sample: list[list[Any]] = field(default_factory=list)
    error: str = ""
    #: "before up" (on the parent state's data: would the migration's promises hold?) or
    #: "after up".
    phase: str = "after up"

    @property
    def passed(self) -> bool:
        return self.violations == 0 and not self.error


@dataclass
class ValidationResult:
    label: str
    started_at: str
    status: str = PASSED
    finished_at: str = ""
    vendor: str = ""
    server_version: str = ""
    content_sha256: str = ""
    steps: list[Step] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    schema_diff: list[str] = field(default_factory=list)
    #: Constraints and indexes down.sql restored under another name (not a failure).
    schema_renamed: list[str] = field(default_factory=list)
    sample_rows: int = 0
    sample_rows_per_second: float = 0.0
    #: Rows copied per table by the sample step.
    sample_tables: dict[str, int] = field(default_factory=dict)
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def locks(self) -> list[dict[str, Any]]:
        return [
            {"step": step.name, "sql": run.sql, "operation": run.operation, "locks": run.locks}
            for step in self.steps
            for run in step.statements
            if run.locks
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format_version"] = 1
        data["locks"] = self.locks()
        for check, raw in zip(self.checks, data["checks"], strict=True):
            raw["passed"] = check.passed
            raw["sample"] = [[_plain(v) for v in row] for row in check.sample]
        return data


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


def content_hash(path: Path) -> str:
    """What a validation proves: the bundle's migration, SQL and checks as they are now."""
    parts = []
    for name in ("bundle.json", "up.sql", "down.sql", "checks.sql"):
        file = path / name
        parts.append(sha256(file.read_bytes()) if file.exists() else "-")
    return sha256("|".join(parts))


class ValidationFailed(Exception):
    """A step failed; the result says which and why."""


def write_result(path: Path, result: ValidationResult) -> None:
    """validation.json in the bundle (written atomically)."""
    staged = path / ".validation.json.tmp"
    staged.write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    staged.replace(path / "validation.json")
