"""The risk report as ``report.json`` and as the terminal table; how a finding's size and effects
read (the bundle's documents use the same words)."""

from __future__ import annotations

import json
import textwrap

from django.core.management.color import Style

from .analysis import Report
from .base import Finding, Severity


def report_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def size_text(finding: Finding) -> str:
    parts = []
    if finding.rows is not None:
        parts.append(f"{finding.rows:,} rows")
    if finding.estimated_seconds is not None and finding.estimated_seconds >= 0.01:
        parts.append(f"~{duration_text(finding.estimated_seconds)}")
    return ", ".join(parts)


def duration_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def effects_text(finding: Finding) -> str:
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
        size = size_text(f)
        head = (
            f"    {paint(f'{f.severity.label:<8}')} {f.rule} op{where} {tag}{f.title}"
            f"{' (' + size + ')' if size else ''}{ack}"
        )
        lines.append(head)
        for text in textwrap.wrap(f.message, width=width - 14):
            lines.append(f"              {text}")
    return lines
