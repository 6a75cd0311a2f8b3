"""The bundle's documents for people: ``README.md`` and ``rollback-plan.md``.

Their text is in Django templates shipped with the package
(``migration_studio/templates/migration_studio/bundle/``); this module computes what they show
(:func:`readme_context`, :func:`rollback_plan_context`) and renders them with an engine of its own,
so the project's ``TEMPLATES`` setting plays no part (a project may have none). The documents are
Markdown: nothing is HTML-escaped, and numbers are written without localization.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

from django.template import Context, Engine

from ..risk.analysis import Report
from ..risk.base import Finding
from ..risk.report import duration_text, effects_text, size_text
from .model import SQL_FILES, Bundle, OperationFacts

#: The package's template directory; the documents are ``migration_studio/bundle/<name>`` in it.
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def engine() -> Engine:
    """The engine that renders the documents: the package's templates only, no autoescaping."""
    return Engine(dirs=[str(TEMPLATES_DIR)], autoescape=False)


def render(name: str, context: dict[str, Any]) -> str:
    """Render the document template ``name``. The text ends with exactly one newline (the README
    ends with a partial, and partials end with a blank line)."""
    template = engine().get_template(f"migration_studio/bundle/{name}")
    text = template.render(Context(context, autoescape=False, use_l10n=False, use_tz=False))
    return text.rstrip("\n") + "\n"


def render_readme(bundle: Bundle, report: Report | None = None, notes: str = "") -> str:
    """``README.md``: overview, the migration file's own notes (its docstring), changes, risk
    (with a report), testing, deployment, rollback."""
    return render("README.md", {**readme_context(bundle, report), "notes": notes.strip()})


def docstring_of(migration_source: bytes) -> str:
    """The module docstring of a migration file ("" when it has none or does not parse)."""
    try:
        return ast.get_docstring(ast.parse(migration_source)) or ""
    except (SyntaxError, ValueError):
        return ""


def rollback_plan(bundle: Bundle, report: Report) -> str:
    """``rollback-plan.md``: how to roll back, what cannot come back, what to check."""
    return render("rollback-plan.md", rollback_plan_context(bundle, report))


# -- what the templates show ---------------------------------------------------------------------


def readme_context(bundle: Bundle, report: Report | None = None) -> dict[str, Any]:
    forward, backward = bundle.statement_counts()
    refused = bundle.refused_operations
    return {
        **_rollback_context(bundle),
        "report": report,
        "forward": forward,
        "backward": backward,
        # Operations the database routers refuse, by number ("1", "3").
        "refused": [str(op.index + 1) for op in refused],
        "refused_all": len(refused) == len(bundle.operations),
        "changes": [
            {
                "number": op.index + 1,
                "description": op.description,
                "operation": op.operation,
                "statements": len(op.all_forward_sql),
                "expressible": op.expressible,
                "irreversible": not op.reversible or op.reverse_sql is None,
                "reason": op.reason,
            }
            for op in bundle.operations
        ],
        "sql_files": SQL_FILES,
        "findings": _findings(report),
        "acknowledgements": list(report.acknowledgements.items()) if report is not None else [],
        "locks": _locks(report),
    }


def _locks(report: Report | None) -> list[dict[str, Any]]:
    """The tables the forward SQL locks in a way that makes reads or writes wait."""
    if report is None:
        return []
    return [
        {
            "table": hold["table"],
            "lock": hold["lock"],
            "operation": hold["operation"] + 1,
            "reads": _wait_text(hold["reads_wait"]),
            "writes": _wait_text(hold["writes_wait"]),
        }
        for hold in report.locks
        if hold["reads_wait"] or hold["writes_wait"]
    ]


def _wait_text(wait: dict[str, Any] | None) -> str:
    if wait is None:
        return "no"
    if wait["seconds"] is None:
        known = wait["at_least_seconds"]
        return f"unknown (at least {duration_text(known)})" if known >= 0.01 else "unknown"
    if wait["seconds"] < 0.01:
        return "briefly"
    return "~" + duration_text(wait["seconds"])


def rollback_plan_context(bundle: Bundle, report: Report) -> dict[str, Any]:
    findings = _findings(report)
    return {
        **_rollback_context(bundle),
        "report": report,
        # What a rollback cannot bring back: findings that lose data, either way.
        "lost": [f for f in findings if f["data_loss"]],
        "rollback_findings": [f for f in findings if f["on_rollback"]],
        "tables": sorted({t for op in bundle.operations for t in _tables(op.operation_facts)}),
    }


def _rollback_context(bundle: Bundle) -> dict[str, Any]:
    """What the rollback instructions (``_rollback.md``, in both documents) need."""
    return {
        "bundle": bundle,
        "previous": previous_migration(bundle),
        # The operations that run Python code (RunPython): the SQL files do not hold it.
        "python_operations": [
            {"number": op.index + 1, "operation": op.operation, "reason": op.reason}
            for op in bundle.operations
            if not op.expressible
        ],
    }


def _findings(report: Report | None) -> list[dict[str, Any]]:
    if report is None:
        return []
    return [finding_context(number, f) for number, f in enumerate(report.findings, 1)]


def finding_context(number: int, f: Finding) -> dict[str, Any]:
    """A finding as the documents show it."""
    return {
        "number": number,
        "rule": f.rule,
        "title": f.title,
        "severity": f.severity.label,
        "message": f.message,
        # The message in a Markdown table cell.
        "table_message": f.message.replace("|", "\\|"),
        # The operation's number, counted from 1; None for the whole migration.
        "operation": None if f.operation is None else f.operation + 1,
        "on_rollback": f.direction == "reverse",
        "size": size_text(f),
        "effects": effects_text(f),
        "safe_alternative": f.safe_alternative,
        "safe_rewrite": f.safe_rewrite,
        "acknowledged": f.acknowledged,
        "docs_url": f.docs_url,
        "data_loss": f.data_loss or f.data_loss_on_rollback,
    }


def previous_migration(bundle: Bundle) -> str:
    """The app's migration a rollback returns to (``zero`` when there is none)."""
    same_app = [name for app, name in bundle.dependencies if app == bundle.app_label]
    return same_app[-1] if same_app else "zero"


def _tables(facts: OperationFacts) -> list[str]:
    return [t for t in (facts.table_before, facts.table_after) if t]
