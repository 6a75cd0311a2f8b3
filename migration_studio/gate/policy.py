"""What the release gate lets through: ``MIGRATION_STUDIO["GATE"]``, overridable per run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .. import conf

SEVERITIES = ("none", "info", "low", "medium", "high", "critical")

#: The documented defaults of ``MIGRATION_STUDIO["GATE"]``.
DEFAULTS: dict[str, Any] = {
    # The highest deploying risk (forward_risk) a migration may have without acknowledging the
    # findings above it.
    "MAX_RISK": "medium",
    # Whether the findings on rolling back (down.sql) count toward MAX_RISK too; by default only
    # the risk of deploying does (forward_risk).
    "INCLUDE_ROLLBACK_RISK": False,
    # Rule ids that block the release whenever they are found, acknowledged or not.
    "BLOCKING_RULES": [],
    # App labels whose migrations may deploy without a bundle (a warning): third-party apps you
    # do not review. Every other migration needs one.
    "UNBUNDLED_APPS": [],
    # A bundle whose risk is above this severity needs a reviewer's approval of its content as it is
    # now (the admin's "approve"); None: no approval is required.
    "APPROVAL_REQUIRED_ABOVE": None,
    # A passing validatemigration of the bundle as it is now is required.
    "REQUIRE_VALIDATION": True,
    # Fail when a table would be blocked (reads or writes) longer than this many seconds, as
    # estimated on the live table sizes; None: no budget.
    "LOCK_BUDGET_SECONDS": None,
    # A live schema that differs from what its applied migrations give blocks the release (False:
    # a warning).
    "DRIFT_BLOCKS": True,
    # A session whose transaction has been open this long, holding a lock that conflicts with one
    # the plan takes, blocks the release (the migration would queue behind it).
    "LONG_TRANSACTION_SECONDS": 5.0,
    # Bounds for every query the gate runs on the target database, in seconds.
    "LOCK_TIMEOUT": 1.0,
    "STATEMENT_TIMEOUT": 10.0,
    # --apply: every statement of the migrations gets this lock timeout and statement timeout
    # (seconds); a statement that waits too long for a lock is tried again, up to APPLY_ATTEMPTS
    # times, after a pause of APPLY_BACKOFF seconds that doubles each time.
    "APPLY_LOCK_TIMEOUT": 0.5,
    "APPLY_STATEMENT_TIMEOUT": 300.0,
    "APPLY_ATTEMPTS": 5,
    "APPLY_BACKOFF": 1.0,
}


@dataclass(frozen=True)
class Policy:
    max_risk: str = DEFAULTS["MAX_RISK"]
    include_rollback_risk: bool = DEFAULTS["INCLUDE_ROLLBACK_RISK"]
    blocking_rules: tuple[str, ...] = ()
    unbundled_apps: tuple[str, ...] = ()
    approval_required_above: str | None = DEFAULTS["APPROVAL_REQUIRED_ABOVE"]
    require_validation: bool = DEFAULTS["REQUIRE_VALIDATION"]
    lock_budget_seconds: float | None = DEFAULTS["LOCK_BUDGET_SECONDS"]
    drift_blocks: bool = DEFAULTS["DRIFT_BLOCKS"]
    long_transaction_seconds: float = DEFAULTS["LONG_TRANSACTION_SECONDS"]
    lock_timeout: float = DEFAULTS["LOCK_TIMEOUT"]
    statement_timeout: float = DEFAULTS["STATEMENT_TIMEOUT"]
    apply_lock_timeout: float = DEFAULTS["APPLY_LOCK_TIMEOUT"]
    apply_statement_timeout: float = DEFAULTS["APPLY_STATEMENT_TIMEOUT"]
    apply_attempts: int = DEFAULTS["APPLY_ATTEMPTS"]
    apply_backoff: float = DEFAULTS["APPLY_BACKOFF"]
    #: Per-run overrides, by setting name, as given (recorded with the verdict).
    overrides: dict[str, Any] = field(default_factory=dict)

    def allows(self, risk: str) -> bool:
        return SEVERITIES.index(risk) <= SEVERITIES.index(self.max_risk)

    def needs_approval(self, risk: str) -> bool:
        """A bundle of this risk needs an approval (``risk`` "unknown": no bundle to approve)."""
        above = self.approval_required_above
        return (
            above is not None
            and risk in SEVERITIES
            and SEVERITIES.index(risk) > SEVERITIES.index(above)
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["blocking_rules"] = list(self.blocking_rules)
        data["unbundled_apps"] = list(self.unbundled_apps)
        return data


_FIELDS = {
    "MAX_RISK": "max_risk",
    "INCLUDE_ROLLBACK_RISK": "include_rollback_risk",
    "BLOCKING_RULES": "blocking_rules",
    "UNBUNDLED_APPS": "unbundled_apps",
    "APPROVAL_REQUIRED_ABOVE": "approval_required_above",
    "REQUIRE_VALIDATION": "require_validation",
    "LOCK_BUDGET_SECONDS": "lock_budget_seconds",
    "DRIFT_BLOCKS": "drift_blocks",
    "LONG_TRANSACTION_SECONDS": "long_transaction_seconds",
    "LOCK_TIMEOUT": "lock_timeout",
    "STATEMENT_TIMEOUT": "statement_timeout",
    "APPLY_LOCK_TIMEOUT": "apply_lock_timeout",
    "APPLY_STATEMENT_TIMEOUT": "apply_statement_timeout",
    "APPLY_ATTEMPTS": "apply_attempts",
    "APPLY_BACKOFF": "apply_backoff",
}


def configured() -> dict[str, Any]:
    """``MIGRATION_STUDIO["GATE"]`` over the defaults."""
    user = conf.get("GATE") or {}
    return {**DEFAULTS, **(user if isinstance(user, dict) else {})}


def policy(**overrides: Any) -> Policy:
    """The configured policy, with the per-run ``overrides`` (setting name -> value; None: not
    given) applied."""
    values = configured()
    given = {key: value for key, value in overrides.items() if value is not None}
    values.update(given)
    made = Policy(
        **{attribute: values[key] for key, attribute in _FIELDS.items()},
        overrides=given,
    )
    return replace(
        made,
        blocking_rules=tuple(made.blocking_rules),
        unbundled_apps=tuple(made.unbundled_apps),
    )


def problems(values: Any) -> list[str]:
    """What is wrong with a ``GATE`` setting, one sentence per problem (system checks)."""
    if not isinstance(values, dict):
        return [f"must be a dict, not {type(values).__name__}"]
    found = []
    unknown = sorted(map(str, set(values) - set(DEFAULTS)))
    if unknown:
        found.append(f"has unknown key(s) {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")
    if "MAX_RISK" in values and values["MAX_RISK"] not in SEVERITIES:
        found.append(f"MAX_RISK must be one of {', '.join(SEVERITIES)}")
    above = values.get("APPROVAL_REQUIRED_ABOVE")
    if above is not None and above not in SEVERITIES:
        found.append(f"APPROVAL_REQUIRED_ABOVE must be one of {', '.join(SEVERITIES)} or None")
    for key, what in (("BLOCKING_RULES", "rule ids"), ("UNBUNDLED_APPS", "app labels")):
        names = values.get(key, [])
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            found.append(f"{key} must be a list of {what}")
    for key in ("REQUIRE_VALIDATION", "DRIFT_BLOCKS", "INCLUDE_ROLLBACK_RISK"):
        if key in values and not isinstance(values[key], bool):
            found.append(f"{key} must be True or False")
    budget = values.get("LOCK_BUDGET_SECONDS")
    if budget is not None and not _positive(budget):
        found.append("LOCK_BUDGET_SECONDS must be a positive number of seconds or None")
    for key in (
        "LOCK_TIMEOUT",
        "STATEMENT_TIMEOUT",
        "LONG_TRANSACTION_SECONDS",
        "APPLY_LOCK_TIMEOUT",
        "APPLY_STATEMENT_TIMEOUT",
        "APPLY_BACKOFF",
    ):
        if key in values and not _positive(values[key]):
            found.append(f"{key} must be a positive number of seconds")
    attempts = values.get("APPLY_ATTEMPTS", 1)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        found.append("APPLY_ATTEMPTS must be a positive integer")
    return found


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
