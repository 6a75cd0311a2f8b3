"""What the bundle detail page shows, read from the bundle's files (confined to BUNDLE_ROOT) and
the records: operations with their SQL both ways, findings, documents, validation runs,
approvals and the release gate's verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bundle.model import Bundle, OperationSQL
from ..bundle.store import load_bundle
from ..exceptions import BundleError
from ..models import Approval, GateVerdict, MigrationBundle, ValidationRun
from .files import OutsideRoot, bundle_path, read_json, read_text
from .markdown import render_markdown
from .sqlview import highlighted, highlighted_file
from .timeline import timeline_svg

SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass
class OperationView:
    index: int
    description: str
    operation: str
    forward: list[Any]
    reverse: list[Any] | None
    reversible: bool
    expressible: bool
    reason: str
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunView:
    run: ValidationRun
    current: bool
    seconds: float
    failing_checks: list[dict[str, Any]]
    timeline: str = ""


def operation_views(bundle: Bundle, findings: list[dict[str, Any]]) -> list[OperationView]:
    views = []
    for op in bundle.operations:
        views.append(
            OperationView(
                index=op.index,
                description=op.description,
                operation=op.operation,
                forward=_statements(op.all_forward_sql, bundle.vendor),
                reverse=_reverse(op, bundle.vendor),
                reversible=op.reversible,
                expressible=op.expressible,
                reason=op.reason,
                findings=[f for f in findings if f.get("operation") == op.index],
            )
        )
    return views


def _statements(sql: list[str], vendor: str) -> list[Any]:
    return [highlighted(statement, vendor) for statement in sql]


def _reverse(op: OperationSQL, vendor: str) -> list[Any] | None:
    if op.reverse_sql is None:
        return None
    return _statements(op.all_reverse_sql, vendor)


def run_views(record: MigrationBundle, runs: list[ValidationRun], timelines: int) -> list[RunView]:
    """The runs, newest first; the first ``timelines`` get their picture."""
    views = []
    for position, run in enumerate(runs):
        failing = [
            check
            for check in run.checks
            if isinstance(check, dict) and not check.get("passed", not check.get("violations"))
        ]
        views.append(
            RunView(
                run=run,
                current=run.content_sha256 == record.content_sha256,
                seconds=sum(_seconds(step.get("seconds")) for step in run.step_summary),
                failing_checks=failing,
                timeline=timeline_svg(run.steps, locks_recorded(run))
                if position < timelines
                else "",
            )
        )
    return views


def _seconds(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def locks_recorded(run: ValidationRun) -> set[str]:
    """The steps whose statements' locks a validation records: the deploy (up) on PostgreSQL."""
    return {"up"} if run.vendor == "postgresql" else set()


def detail_context(record: MigrationBundle, *, timelines: int = 1) -> dict[str, Any]:
    """Everything the detail page shows. A file that cannot be read is said so, never guessed."""
    context: dict[str, Any] = {"record": record, "problems": []}
    try:
        path = bundle_path(record)
    except OutsideRoot as error:
        context["problems"].append(str(error))
        path = None
    bundle = None
    if path is not None:
        try:
            bundle = load_bundle(path)
        except BundleError as error:
            context["problems"].append(str(error))
    report = read_json(path, "report.json") if path else {}
    findings = [f for f in report.get("findings", []) if isinstance(f, dict)]
    context.update(
        bundle=bundle,
        report=report,
        findings=sorted(findings, key=_finding_order),
        operations=operation_views(bundle, findings) if bundle else [],
        readme=_markdown(path, "README.md"),
        rollback_plan=_markdown(path, "rollback-plan.md"),
        checks_sql=_sql_file(path, "checks.sql", record.vendor),
        locks=[lock for lock in report.get("locks", []) if isinstance(lock, dict)],
    )
    # The statements (``steps``) of the runs that get no picture are not loaded: a run of a
    # 50-operation migration holds hundreds of them.
    runs = record.validations.order_by("-started_at", "-pk")
    newest = list(runs[:timelines])
    older = list(runs.defer("steps", "locks")[timelines:])
    context["runs"] = run_views(record, newest + older, timelines)
    context["approvals"] = list(
        Approval.objects.filter(app_label=record.app_label, migration_name=record.migration_name)
    )
    context["gate_verdicts"] = list(
        GateVerdict.objects.filter(app_label=record.app_label, migration_name=record.migration_name)
        .select_related("deployment_check")
        .order_by("-deployment_check__created_at")[:10]
    )
    return context


def _finding_order(finding: dict[str, Any]) -> tuple[int, int, str]:
    severity = finding.get("severity", "info")
    rank = SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
    return rank, finding.get("operation") or 0, str(finding.get("rule", ""))


def _markdown(path: Path | None, name: str) -> Any:
    text = read_text(path, name) if path else None
    return render_markdown(text) if text is not None else None


def _sql_file(path: Path | None, name: str, vendor: str) -> Any:
    text = read_text(path, name) if path else None
    return highlighted_file(text, vendor) if text is not None else None
