"""The risk report as files and text: report.json, the README's risk section, rollback-plan.md,
and the terminal table."""

from __future__ import annotations

import json
import textwrap

from django.core.management.color import Style

from ..bundle import Bundle
from ..render import previous_migration, rollback_lines
from .analysis import Report
from .base import Finding, Severity


def report_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _size(finding: Finding) -> str:
    parts = []
    if finding.rows is not None:
        parts.append(f"{finding.rows:,} rows")
    if finding.estimated_seconds is not None and finding.estimated_seconds >= 0.01:
        parts.append(f"~{_duration(finding.estimated_seconds)}")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _effects(finding: Finding) -> str:
    effects = []
    if finding.blocks_reads:
        effects.append("blocks reads")
    if finding.blocks_writes:
        effects.append("blocks writes")
    if finding.rewrite:
        effects.append("rewrite")
    if finding.scan:
        effects.append("scan")
    if finding.data_loss:
        effects.append("data loss")
    if finding.data_loss_on_rollback:
        effects.append("data loss on rollback")
    if finding.breaks_old_code:
        effects.append("breaks old code")
    return ", ".join(effects)


def readme_section(report: Report) -> list[str]:
    """Markdown lines for the bundle README's "Risk" section."""
    lines = [
        "## Risk",
        "",
        f"**Overall risk: {report.risk_label.upper()}** ({len(report.findings)} finding(s); "
        f"table sizes from {report.stats_source}; details in `report.json`).",
        "",
    ]
    if not report.findings:
        return [*lines, "No rule found anything to report.", ""]
    lines += [
        "| severity | rule | op | what happens | size | effects |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in report.findings:
        severity = f.severity.label + (" (acknowledged)" if f.acknowledged else "")
        message = f.message.replace("|", "\\|")
        rule = f"[{f.rule}]({f.docs_url})" if f.docs_url else f.rule
        lines.append(
            f"| {severity} | {rule} {f.title} | {_where(f)} | {message} | "
            f"{_size(f)} | {_effects(f)} |"
        )
    lines += ["", "### Findings", ""]
    for number, f in enumerate(report.findings, 1):
        lines += [*_finding_block(number, f), ""]
    if report.acknowledgements:
        lines += ["Acknowledged in the migration (`migration_studio_acknowledge`):", ""]
        lines += [f"- **{rule}**: {reason}" for rule, reason in report.acknowledgements.items()]
        lines.append("")
    return lines


def _where(finding: Finding) -> str:
    where = "-" if finding.operation is None else str(finding.operation + 1)
    return where + (" (rollback)" if finding.direction == "reverse" else "")


def _finding_block(number: int, f: Finding) -> list[str]:
    """One finding, readable on its own (offline too): what happens, how big, the safe way."""
    place = "The whole migration" if f.operation is None else f"Operation {f.operation + 1}"
    if f.direction == "reverse":
        place += ", on rollback (`down.sql`)"
    lines = [
        f"#### {number}. {f.severity.label}: {f.rule} {f.title}",
        "",
        f"{place}: {f.message}",
        "",
    ]
    if _size(f):
        lines.append(f"- Size: {_size(f)}.")
    if _effects(f):
        lines.append(f"- Effects: {_effects(f)}.")
    if f.safe_alternative:
        lines.append(f"- Safe alternative: {f.safe_alternative}")
    if f.acknowledged:
        lines.append(f"- Acknowledged: {f.acknowledged}")
    if f.docs_url:
        lines.append(f"- Rule {f.rule}: {f.docs_url}")
    return lines if lines[-1] else lines[:-1]


def rollback_plan(bundle: Bundle, report: Report) -> str:
    """``rollback-plan.md``: how to roll back, what cannot come back, what to check."""
    previous = previous_migration(bundle)
    reverse = [f for f in report.findings if f.direction == "reverse"]
    lost = [f for f in report.findings if f.data_loss or f.data_loss_on_rollback]
    lines = [
        f"# Rollback plan: {bundle.label}",
        "",
        "## How to roll back",
        "",
    ]
    if bundle.reversible:
        lines += [
            "Revert the code first if the new code depends on the new schema, then:",
            "",
        ]
    lines += rollback_lines(bundle)
    lines += ["", "## What a rollback cannot bring back", ""]
    if lost:
        for f in lost:
            lines.append(f"- {f.message}")
    else:
        lines.append(
            "- Nothing found: the rollback restores the previous schema without dropping data."
        )
    lines += ["", "## Risks of the rollback itself", ""]
    if reverse:
        lines += [f"- **{f.rule}** ({f.severity.label}): {f.message}" for f in reverse]
    else:
        lines.append("- None found in `down.sql`.")
    tables = sorted({t for op in bundle.operations for t in _tables(op.facts)})
    lines += [
        "",
        "## Before rolling back",
        "",
        "- Take a backup (or at least export the columns and tables listed above).",
        "- Check that no long-running transaction holds locks on "
        + (", ".join(f"`{t}`" for t in tables) or "the affected tables")
        + " (PostgreSQL: `SELECT pid, state, query FROM pg_stat_activity WHERE state <> 'idle';`).",
        "- Deploy code that works with the previous schema first, if the new code needs the "
        "new one.",
        "",
        "## After rolling back",
        "",
        f"- `python manage.py showmigrations {bundle.app_label}`: "
        f"`{bundle.migration_name}` is unapplied.",
        "- The schema matches the previous migration (compare it with a database migrated to "
        f"`{previous}`, or with the parent state `up.sql` was written for).",
        "- Application health checks and error rates are back to normal.",
        "",
    ]
    return "\n".join(lines)


def _tables(facts: dict) -> list[str]:
    return [t for t in (facts.get("table_before"), facts.get("table_after")) if t]


_STYLE_BY_SEVERITY = {
    Severity.CRITICAL: "ERROR",
    Severity.HIGH: "ERROR",
    Severity.MEDIUM: "WARNING",
    Severity.LOW: "NOTICE",
    Severity.INFO: "SUCCESS",
}


def terminal_lines(report: Report, style: Style, width: int = 100) -> list[str]:
    """A readable table of the findings, coloured by severity (Django's style respects
    --no-color)."""
    color = (
        getattr(style, _STYLE_BY_SEVERITY.get(report.risk, "SUCCESS"), str)
        if report.risk is not None
        else style.SUCCESS
    )
    lines = [
        f"    risk: {color(report.risk_label.upper())}  "
        f"({len(report.findings)} finding(s), sizes from {report.stats_source})"
    ]
    for f in report.findings:
        paint = getattr(style, _STYLE_BY_SEVERITY[f.severity], str)
        where = "   " if f.operation is None else f"{f.operation + 1:>3}"
        tag = "[rollback] " if f.direction == "reverse" else ""
        ack = " [acknowledged]" if f.acknowledged else ""
        size = _size(f)
        head = (
            f"    {paint(f'{f.severity.label:<8}')} {f.rule} op{where} {tag}{f.title}"
            f"{' (' + size + ')' if size else ''}{ack}"
        )
        lines.append(head)
        for text in textwrap.wrap(f.message, width=width - 14):
            lines.append(f"              {text}")
    return lines
