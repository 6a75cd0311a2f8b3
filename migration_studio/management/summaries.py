"""Terminal summaries shared by the commands."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

from django.core.management.color import Style

from ..bundle.model import Bundle
from ..bundle.sqlfile import render_down_sql, render_up_sql
from ..risk.analysis import Report
from ..risk.base import Severity
from ..risk.report import size_text
from ..services import Entry


def bundle_summary(
    bundle: Bundle, location: str, style: Style, verbosity: int, report: Report | None = None
) -> list[str]:
    """A few lines per bundle, like makemigrations' listing; the SQL itself from verbosity 2."""
    forward, backward = bundle.statement_counts()
    state = "reversible" if bundle.reversible else style.WARNING("NOT reversible")
    lines = [
        f"  {style.MIGRATE_LABEL(location)}",
        f"    {len(bundle.operations)} operation(s), {forward} statement(s) forward, "
        f"{backward} backward, {state}",
    ]
    refused = bundle.refused_operations
    if refused:
        lines.append(
            style.NOTICE(
                f"    - the database routers do not allow {len(refused)} of its operation(s) on "
                f"'{bundle.database}': no SQL there (use --database for the app's database)"
            )
        )
    for op in bundle.operations:
        if not op.expressible:
            lines.append(
                style.NOTICE(
                    f"    - operation {op.index + 1} ({op.operation}) is not "
                    "expressible as SQL: marked in up.sql/down.sql"
                )
            )
        if not op.reversible or op.reverse_sql is None:
            lines.append(
                style.WARNING(f"    ! operation {op.index + 1} ({op.operation}): {op.reason}")
            )
    if report is not None:
        lines.extend(terminal_lines(report, style))
    if verbosity >= 2:
        for name, text in (
            ("up.sql", render_up_sql(bundle)),
            ("down.sql", render_down_sql(bundle)),
        ):
            lines.append(style.MIGRATE_HEADING(f"    {name}:"))
            lines.extend(f"      {line}" for line in text.rstrip().splitlines())
    return lines


def write_summaries(
    write: Callable[[str], None],
    style: Style,
    verbosity: int,
    entries: list[Entry],
    *,
    written: bool,
) -> None:
    if verbosity < 1 or not entries:
        return
    heading = "Bundles:" if written else "Bundles (dry run, nothing written):"
    write(style.MIGRATE_HEADING(heading))
    for entry in entries:
        location = relative(entry.path) + "/"
        for line in bundle_summary(entry.bundle, location, style, verbosity, entry.report):
            write(line)


def relative(path: Path | str) -> str:
    """``path`` relative to the current directory when below it (as makemigrations shows paths)."""
    try:
        shown = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if shown.startswith("..") else shown


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
        f"(deploy {report.forward_risk_label}, rollback {report.rollback_risk_label}; "
        f"{len(report.findings)} finding(s), sizes from {report.stats_source})"
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
