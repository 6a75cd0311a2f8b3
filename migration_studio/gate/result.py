"""What the gate found: one verdict per planned migration, checks about the whole plan, and the
overall yes or no. Plain data: every output format reads it, and ``to_dict`` is the JSON format."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Statuses of a check, best first. Only "fail" makes the gate say no.
PASS, SKIP, WARN, FAIL = "pass", "skip", "warn", "fail"
STATUSES = (PASS, SKIP, WARN, FAIL)

#: Version of the JSON output (documented in docs/predeploycheck.rst).
FORMAT_VERSION = 1


@dataclass
class GateCheck:
    """One thing the gate looked at, and what it concluded."""

    #: bundle, fresh, validated, approved, risk, blocking-rule, lock-budget, preflight,
    #: live-locks, sizes, drift.
    name: str
    status: str
    message: str
    #: A risk rule id (MS131) for findings; None otherwise.
    rule: str | None = None
    severity: str | None = None
    #: Numbers and samples behind the message (violating rows, sessions, differences).
    details: dict[str, Any] = field(default_factory=dict)
    #: The line of the migration file it is about (an operation's), when it is about one.
    line: int | None = None
    #: The rule's documentation, for findings ("" when DOCS_URL is not set).
    help_url: str = ""


@dataclass
class MigrationVerdict:
    app_label: str
    name: str
    #: The migration file, relative to the working directory when it is below it.
    file: str
    #: The bundle directory (None: there is none).
    bundle: str | None
    #: The deploying risk on the live table sizes ("unknown" without a bundle).
    risk: str = "unknown"
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    @property
    def status(self) -> str:
        return worst(c.status for c in self.checks)


@dataclass
class GateResult:
    database: str
    vendor: str
    server: str
    tool_version: str
    generated_at: str
    policy: dict[str, Any]
    migrations: list[MigrationVerdict] = field(default_factory=list)
    #: Checks about the plan as a whole (the sessions on the target, the table sizes).
    checks: list[GateCheck] = field(default_factory=list)
    #: Why the gate's "no" was overridden for --apply (recorded), or "".
    override: str = ""
    #: What --apply did (``ApplyReport.to_dict``), or None without --apply.
    apply: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return self.status != FAIL

    @property
    def status(self) -> str:
        return worst(
            [c.status for c in self.checks] + [m.status for m in self.migrations] or [PASS]
        )

    def all_checks(self) -> list[tuple[MigrationVerdict | None, GateCheck]]:
        return [(None, c) for c in self.checks] + [
            (m, c) for m in self.migrations for c in m.checks
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "tool_version": self.tool_version,
            "generated_at": self.generated_at,
            "database": self.database,
            "vendor": self.vendor,
            "server": self.server,
            "verdict": self.status,
            "passed": self.passed,
            "policy": self.policy,
            "override": self.override,
            "apply": self.apply,
            "plan": [m.label for m in self.migrations],
            "checks": [asdict(c) for c in self.checks],
            "migrations": [
                {
                    "migration": m.label,
                    "app_label": m.app_label,
                    "name": m.name,
                    "file": m.file,
                    "bundle": m.bundle,
                    "risk": m.risk,
                    "status": m.status,
                    "checks": [asdict(c) for c in m.checks],
                }
                for m in self.migrations
            ],
        }


def worst(statuses: Any) -> str:
    """The status of several checks: "fail" or "warn" if one is; a skipped check (something not
    applicable or not checked, said so) does not make the others' "pass" a "skip"."""
    found = set(statuses)
    for status in (FAIL, WARN, PASS):
        if status in found:
            return status
    return SKIP if found else PASS
