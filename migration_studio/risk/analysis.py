"""Run the rules over a bundle: findings, acknowledgements, and the overall risk."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..bundle.model import Bundle
from ..sql.reader import parse_all
from .base import Finding, Rule, Severity, by_severity, worst
from .context import MigrationContext
from .registry import enabled_rules, known_rule_ids
from .stats import Stats

REPORT_FORMAT = 1


@dataclass
class Report:
    label: str
    vendor: str
    server_version: str
    stats_source: str
    findings: list[Finding] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    #: Acknowledged rule id -> reason, as the migration declares them.
    acknowledgements: dict[str, str] = field(default_factory=dict)
    generated_at: str = ""

    @property
    def risk(self) -> Severity | None:
        """The worst finding that is not acknowledged (None: no finding)."""
        return worst(self.findings)

    @property
    def risk_label(self) -> str:
        return self.risk.label if self.risk is not None else "none"

    @property
    def forward_risk_label(self) -> str:
        """The worst unacknowledged finding on deploying (up.sql and the whole migration)."""
        found = worst(f for f in self.findings if f.direction != "reverse")
        return found.label if found is not None else "none"

    @property
    def rollback_risk_label(self) -> str:
        """The worst unacknowledged finding on rolling back (down.sql)."""
        found = worst(f for f in self.findings if f.direction == "reverse")
        return found.label if found is not None else "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": REPORT_FORMAT,
            "tool_version": __version__,
            "migration": self.label,
            "generated_at": self.generated_at,
            "vendor": self.vendor,
            "server_version": self.server_version,
            "stats_source": self.stats_source,
            "risk": self.risk_label,
            "forward_risk": self.forward_risk_label,
            "rollback_risk": self.rollback_risk_label,
            "counts": {
                severity.label: sum(
                    1 for f in self.findings if f.severity == severity and f.acknowledged is None
                )
                for severity in Severity
            },
            "acknowledgements": self.acknowledgements,
            "rules": self.rules,
            "findings": [f.to_dict() for f in self.findings],
        }


def acknowledgements_of(migration: Any) -> dict[str, str]:
    """``{"MS101": "reason"}`` from a migration's ``migration_studio_acknowledge`` attribute."""
    declared = getattr(migration, "migration_studio_acknowledge", None) or {}
    return {str(rule): str(reason) for rule, reason in dict(declared).items()}


def unknown_acknowledgements(acknowledgements: dict[str, str]) -> list[str]:
    """The acknowledged ids that name no rule (a typo would otherwise hide nothing, silently)."""
    return sorted(set(acknowledgements) - known_rule_ids())


def analyse(
    bundle: Bundle,
    stats: Stats | None = None,
    *,
    acknowledgements: dict[str, str] | None = None,
    rules: list[Rule] | None = None,
) -> Report:
    """The findings of every enabled rule on ``bundle``'s forward (and reverse) SQL."""
    stats = stats or Stats()
    rules = [
        r for r in (rules if rules is not None else enabled_rules()) if r.applies_to(bundle.vendor)
    ]
    facts = [op.operation_facts for op in bundle.operations]
    migration = MigrationContext(bundle, facts, stats, created_tables=_created(bundle))
    findings: list[Finding] = []
    forward = migration.operations("forward")
    reverse = migration.operations("reverse")
    for rule in rules:
        if rule.scope == "migration":
            findings.extend(rule.check_migration(migration))
            continue
        if "forward" in rule.directions:
            for context in forward:
                findings.extend(rule.check(context))
        if "reverse" in rule.directions:
            for context in reverse:
                if context.op.reverse_sql is not None:
                    findings.extend(rule.check(context))
    findings = _merged(findings)
    acknowledgements = acknowledgements or {}
    for finding in findings:
        if finding.rule in acknowledgements:
            finding.acknowledged = acknowledgements[finding.rule]
    return Report(
        label=bundle.label,
        vendor=bundle.vendor,
        server_version=bundle.server_version,
        stats_source=stats.source,
        findings=list(by_severity(findings)),
        rules=[r.id for r in rules],
        acknowledgements=acknowledgements,
        generated_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )


def _merged(findings: list[Finding]) -> list[Finding]:
    """Findings that say the same thing about the same operation become one, listing the
    statements of each (a rule may find the same hazard in several statements)."""
    merged: dict[tuple, Finding] = {}
    for finding in findings:
        key = tuple(
            (name, repr(value))
            for name, value in finding.to_dict().items()
            if name != "statements"
        )
        if key in merged:
            statements = merged[key].statements
            statements.extend(s for s in finding.statements if s not in statements)
        else:
            merged[key] = finding
    return list(merged.values())


def _created(bundle: Bundle) -> set[str]:
    created = set()
    for op in bundle.operations:
        for text in op.all_forward_sql:
            for statement in parse_all(text):
                if statement.kind == "create_table" and statement.table:
                    created.add(statement.table)
    return created
