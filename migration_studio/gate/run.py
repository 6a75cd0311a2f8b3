"""The gate's one job: judge the plan of migrations ``migrate`` would apply on a database.

Reads the target under :func:`~.target.guarded` (read-only, every query bounded), then the
bundles and the validation records, and returns a :class:`~.result.GateResult`.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations import Migration

from .. import __version__, conf
from ..bundle.model import Bundle
from ..bundle.store import bundle_dir, bundle_problem, load_bundle
from ..exceptions import StatsError
from ..risk.analysis import Report, acknowledgements_of, analyse
from ..risk.stats import Stats, from_database
from ..scratch.database import describe_server
from ..sql.locks import stronger
from ..validation.checking import changes_data, touched_tables
from ..validation.freshness import stale_message, stale_parts
from ..validation.records import approval_of, has_passed, last_failure
from ..validation.result import content_hash
from .drift import (
    applied_nodes,
    compare_with_migrations,
    described_tables,
    live_schema,
    unavailable,
)
from .live import lock_hazards
from .locate import line_of, operation_lines
from .plan import deployment_plan
from .policy import Policy
from .preflight import drops, live_identifiers, preflight
from .result import FAIL, PASS, WARN, GateCheck, GateResult, MigrationVerdict
from .target import QueryFailed, Target, guarded


@dataclass
class _Planned:
    migration: Migration
    verdict: MigrationVerdict
    bundle: Bundle | None = None
    path: Path | None = None
    report: Report | None = None


def check_plan(
    database: str,
    policy: Policy,
    *,
    app_label: str | None = None,
    migration_name: str | None = None,
    root: Path | None = None,
    scratch_database: str | None = None,
    use_cache: bool = True,
) -> GateResult:
    """Judge what ``migrate [app_label [migration_name]] --database database`` would apply.

    Drift is compared on a scratch database created on ``scratch_database``'s server (default:
    the ``default`` alias, unless it is the target itself)."""
    root = Path(root) if root is not None else conf.bundle_root()
    scratch = scratch_database or (None if database == DEFAULT_DB_ALIAS else DEFAULT_DB_ALIAS)
    with guarded(database, policy) as target:
        result = GateResult(
            database=database,
            vendor=target.vendor,
            server=describe_server(database),
            tool_version=__version__,
            generated_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            policy=policy.to_dict(),
        )
        plan, loader = deployment_plan(target.connection, app_label, migration_name)
        planned = [_bundled(migration, root, target, policy) for migration in plan]
        result.migrations = [p.verdict for p in planned]
        stats = _live_stats(target, result)
        for item in planned:
            if item.bundle is not None:
                _judge_risk(item, stats, policy)
        _preflight(target, planned)
        locks: dict[str, str] = {}
        for item in planned:
            for hold in item.report.locks if item.report else []:
                locks[hold["table"]] = stronger(locks.get(hold["table"]), hold["lock"]) or ""
        result.checks.append(lock_hazards(target, locks, policy.long_transaction_seconds))
        applied = applied_nodes(loader)
        tables = described_tables(loader, applied)
        live, why_not = None, _no_scratch(scratch, target)
        if why_not is None:
            try:
                live = live_schema(target, tables)
            except QueryFailed as error:
                why_not = f"the live schema could not be read: {error}"
    # The scratch database is built once the target's transaction is over.
    if live is not None and scratch is not None:
        result.checks.append(
            compare_with_migrations(
                live,
                tables,
                loader,
                applied,
                scratch,
                blocks=policy.drift_blocks,
                use_cache=use_cache,
            )
        )
    else:
        result.checks.append(unavailable(why_not or "no scratch database"))
    for item in planned:  # the records live in the app's own tables, not under the guard
        if item.bundle is not None and item.path is not None:
            item.verdict.checks.insert(2, _validated(item.path, policy))
            if policy.needs_approval(item.verdict.risk):
                item.verdict.checks.insert(3, _approved(item.path, item.verdict.risk, policy))
    return result


def _no_scratch(scratch: str | None, target: Target) -> str | None:
    """Why the applied migrations cannot be built on a scratch database, or None."""
    if scratch is None:
        return (
            "a scratch database would be created on the target's own server; name a server where "
            "one may be created with --scratch-database (the target's alias too, if you mean it)"
        )
    try:
        vendor = connections[scratch].vendor
    except Exception:
        return f"there is no database '{scratch}' in DATABASES"
    if vendor != target.vendor:
        return f"the scratch server '{scratch}' is {vendor}, the target {target.vendor}"
    return None


def _bundled(migration: Migration, root: Path, target: Target, policy: Policy) -> _Planned:
    verdict = MigrationVerdict(
        migration.app_label, migration.name, _file_of(migration), bundle=None
    )
    item = _Planned(migration, verdict)
    path = bundle_dir(root, migration.app_label, migration.name)
    problem = bundle_problem(path) if (path / "bundle.json").exists() else ""
    if problem or not (path / "bundle.json").exists():
        unbundled = migration.app_label in policy.unbundled_apps
        verdict.checks.append(
            GateCheck(
                "bundle",
                WARN if unbundled and not problem else FAIL,
                (problem.rstrip(".") if problem else f"No bundle in {_relative(path)}")
                + (
                    " (allowed: the policy's UNBUNDLED_APPS lists the app)."
                    if unbundled and not problem
                    else f": write it with manage.py bundlemigration {migration.app_label} "
                    f"{migration.name}, review it, and commit it with the migration."
                ),
            )
        )
        return item
    bundle = load_bundle(path)
    verdict.bundle = _relative(path)
    item.bundle, item.path = bundle, path
    if bundle.vendor != target.vendor:
        verdict.checks.append(
            GateCheck(
                "bundle",
                FAIL,
                f"The bundle holds {bundle.vendor} SQL, the target is {target.vendor}: write it "
                f"with bundlemigration --database {target.alias}.",
            )
        )
    else:
        verdict.checks.append(GateCheck("bundle", PASS, f"Bundle {_relative(path)}."))
    stale = stale_parts(bundle, path, migration)
    verdict.checks.append(
        GateCheck("fresh", FAIL, stale_message(bundle, stale))
        if stale
        else GateCheck("fresh", PASS, "The migration file, up.sql and down.sql match bundle.json.")
    )
    return item


def _validated(path: Path, policy: Policy) -> GateCheck:
    content = content_hash(path)
    if has_passed(path, content):
        return GateCheck("validated", PASS, "validatemigration passed on the bundle as it is now.")
    status = FAIL if policy.require_validation else WARN
    failure = last_failure(path, content)
    return GateCheck(
        "validated",
        status,
        (
            f"validatemigration failed on the bundle as it is now: {failure}"
            if failure
            else "No passing validatemigration of the bundle as it is now: run manage.py "
            "validatemigration on it."
        )
        + ("" if policy.require_validation else " (not required by the policy)"),
    )


def _approved(path: Path, risk: str, policy: Policy) -> GateCheck:
    approval = approval_of(path, content_hash(path))
    if approval is not None:
        return GateCheck(
            "approved",
            PASS,
            f"Approved by {approval.approved_by} on {approval.approved_at:%Y-%m-%d %H:%M}"
            + (f": {approval.comment}" if approval.comment else "."),
        )
    return GateCheck(
        "approved",
        FAIL,
        f"Its risk ({risk}) is above {policy.approval_required_above}, where the policy wants a "
        "reviewer's approval of the bundle as it is now, and there is none (an approval of an "
        "earlier content does not count): approve it in the admin.",
    )


def _live_stats(target: Target, result: GateResult) -> Stats:
    try:
        with transaction.atomic(using=target.alias):
            return from_database(target.alias)
    except StatsError as error:
        result.checks.append(
            GateCheck("sizes", WARN, f"{error}; durations are unknown, severities are defaults.")
        )
        return Stats()


def _judge_risk(item: _Planned, stats: Stats, policy: Policy) -> None:
    assert item.bundle is not None
    report = analyse(item.bundle, stats, acknowledgements=acknowledgements_of(item.migration))
    item.report = report
    verdict = item.verdict
    both = policy.include_rollback_risk
    verdict.risk = report.risk_label if both else report.forward_risk_label
    lines = operation_lines(Path(verdict.file))
    weighed = [f for f in report.findings if both or f.direction != "reverse"]
    above = [f for f in weighed if f.acknowledged is None and not policy.allows(f.severity.label)]
    for finding in above:
        verdict.checks.append(
            GateCheck(
                "risk",
                FAIL,
                f"{finding.title}"
                + (" (on rollback)" if finding.direction == "reverse" else "")
                + f": {finding.message}",
                rule=finding.rule,
                severity=finding.severity.label,
                details={
                    "title": finding.title,
                    "operation": finding.operation,
                    "statements": finding.statements,
                },
                line=line_of(lines, finding.operation),
                help_url=finding.docs_url,
            )
        )
    if not above:
        acknowledged = sum(1 for f in weighed if f.acknowledged is not None)
        verdict.checks.append(
            GateCheck(
                "risk",
                PASS,
                ("Risk (deploying and rolling back) " if both else "Deploying risk ")
                + f"{verdict.risk} on the live table sizes (allowed up to {policy.max_risk}); "
                f"{len(weighed)} finding(s)"
                + (f", {acknowledged} acknowledged" if acknowledged else "")
                + ".",
            )
        )
    for finding in report.findings:
        if finding.rule in policy.blocking_rules:
            verdict.checks.append(
                GateCheck(
                    "blocking-rule",
                    FAIL,
                    f"{finding.rule} blocks every release (policy BLOCKING_RULES)"
                    + (", acknowledged or not" if finding.acknowledged else "")
                    + f": {finding.message}",
                    rule=finding.rule,
                    severity=finding.severity.label,
                    details={"title": finding.title, "operation": finding.operation},
                    line=line_of(lines, finding.operation),
                    help_url=finding.docs_url,
                )
            )
    if policy.lock_budget_seconds is not None:
        verdict.checks.extend(_lock_budget(report, policy.lock_budget_seconds))


def _lock_budget(report: Report, budget: float) -> list[GateCheck]:
    found = []
    for hold in report.locks:
        for access in ("reads", "writes"):
            wait = hold[f"{access}_wait"]
            if wait is None:
                continue
            if wait["seconds"] is None:
                found.append(
                    GateCheck(
                        "lock-budget",
                        WARN,
                        f"How long {access} of {hold['table']} would wait is unknown (at least "
                        f"{wait['at_least_seconds']:.1f}s): the budget of {budget:g}s cannot be "
                        "checked.",
                    )
                )
            elif wait["seconds"] > budget:
                found.append(
                    GateCheck(
                        "lock-budget",
                        FAIL,
                        f"{access.capitalize()} of {hold['table']} would wait about "
                        f"{wait['seconds']:.1f}s ({hold['lock']}), over the budget of {budget:g}s.",
                        details={"table": hold["table"], "seconds": wait["seconds"]},
                    )
                )
    if not found:
        found.append(
            GateCheck("lock-budget", PASS, f"No table would be blocked longer than {budget:g}s.")
        )
    return found


def _preflight(target: Target, planned: list[_Planned]) -> None:
    bundled = [item for item in planned if item.bundle is not None and item.path is not None]
    tables = (
        set().union(*(touched_tables(item.bundle, item.path) for item in bundled))
        if bundled
        else set()
    )
    try:
        known = live_identifiers(target, tables) if tables else set()
    except QueryFailed as error:
        for item in bundled:
            item.verdict.checks.append(
                GateCheck(
                    "preflight",
                    WARN,
                    f"The live data could not be checked: reading its schema failed: {error}.",
                )
            )
        return
    data_steps = False
    for item in bundled:
        data_steps = data_steps or changes_data(item.bundle)
        item.verdict.checks.extend(preflight(target, item.bundle, item.path, known, data_steps))
        item.verdict.checks.extend(drops(target, item.bundle, known))


def _file_of(migration: Migration) -> str:
    module = sys.modules.get(type(migration).__module__)
    path = getattr(module, "__file__", None)
    return _relative(Path(path)) if path else type(migration).__module__


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
