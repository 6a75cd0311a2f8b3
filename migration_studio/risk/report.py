"""The risk report as ``report.json``, and how a finding's size and effects read (the bundle's
documents and the commands' terminal table use the same words)."""

from __future__ import annotations

import json

from .analysis import Report
from .base import Finding


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
