"""System checks for the ``MIGRATION_STUDIO`` setting (IDs documented in docs/settings.rst)."""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, SETTING_NAME
from .gate.policy import problems as gate_problems
from .risk.base import Rule


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    user = getattr(settings, SETTING_NAME, {})
    if not isinstance(user, dict):
        return [
            Error(
                f"{SETTING_NAME} must be a dict, not {type(user).__name__}.",
                hint=f'Use for example {SETTING_NAME} = {{"BUNDLE_ROOT": BASE_DIR / "bundles"}}.',
                id="migration_studio.E001",
            )
        ]
    errors = []
    unknown = sorted(map(str, set(user) - set(DEFAULTS)))
    if unknown:
        errors.append(
            Error(
                f"{SETTING_NAME} has unknown key(s): {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="migration_studio.E002",
            )
        )
    for key in ("BUNDLE_ROOT", "CACHE_DIR"):
        value = user.get(key)
        if value is not None and not isinstance(value, str | PurePath):
            errors.append(
                Error(
                    f"{SETTING_NAME}['{key}'] must be a path (str or pathlib.Path).",
                    id="migration_studio.E003",
                )
            )
    if "SCRATCH_CACHE" in user and not isinstance(user["SCRATCH_CACHE"], bool):
        errors.append(
            Error(
                f"{SETTING_NAME}['SCRATCH_CACHE'] must be True or False.",
                id="migration_studio.E004",
            )
        )
    size = user.get("CACHE_SIZE", 1)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        errors.append(
            Error(
                f"{SETTING_NAME}['CACHE_SIZE'] must be a positive integer.",
                id="migration_studio.E005",
            )
        )
    for key in ("RULES", "DISABLED_RULES"):
        value = user.get(key, [])
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            errors.append(
                Error(
                    f"{SETTING_NAME}['{key}'] must be a list of strings.",
                    id="migration_studio.E006",
                )
            )
    for path in user.get("RULES", []) if isinstance(user.get("RULES", []), list | tuple) else []:
        errors.extend(_rule_errors(path))
    rates = user.get("ESTIMATE_RATES", {})
    if not isinstance(rates, dict) or not all(
        isinstance(v, dict) and all(_positive_number(r) for r in v.values()) for v in rates.values()
    ):
        errors.append(
            Error(
                f"{SETTING_NAME}['ESTIMATE_RATES'] must map a vendor to {{work kind: rows per "
                "second} with positive numbers.",
                hint='For example {"postgresql": {"rewrite": 400_000}}.',
                id="migration_studio.E008",
            )
        )
    docs_url = user.get("DOCS_URL")
    if docs_url is not None and not _absolute_url(docs_url):
        errors.append(
            Error(
                f"{SETTING_NAME}['DOCS_URL'] must be an absolute http(s) URL or None, not "
                f"{docs_url!r}.",
                hint="Bundle READMEs are read in your repository, where a relative link breaks; "
                'use for example "https://docs.example.com/migration-studio/".',
                id="migration_studio.E009",
            )
        )
    batch = user.get("BACKFILL_BATCH_SECONDS", 0.02)
    if not _positive_number(batch) or batch > 10:
        errors.append(
            Error(
                f"{SETTING_NAME}['BACKFILL_BATCH_SECONDS'] must be a number of seconds above 0 "
                f"and at most 10, not {batch!r}.",
                hint="A batch keeps its rows locked until it commits; 0.02 (the default) keeps "
                "a concurrent write's wait short.",
                id="migration_studio.E011",
            )
        )
    if not isinstance(user.get("SAFE_REWRITES", False), bool):
        errors.append(
            Error(
                f"{SETTING_NAME}['SAFE_REWRITES'] must be True or False, not "
                f"{user['SAFE_REWRITES']!r}.",
                id="migration_studio.E012",
            )
        )
    lock_timeout = user.get("SAFE_LOCK_TIMEOUT", 2.0)
    if not _positive_number(lock_timeout):
        errors.append(
            Error(
                f"{SETTING_NAME}['SAFE_LOCK_TIMEOUT'] must be a number of seconds above 0, not "
                f"{lock_timeout!r}.",
                id="migration_studio.E013",
            )
        )
    for problem in gate_problems(user.get("GATE", {})):
        errors.append(
            Error(
                f"{SETTING_NAME}['GATE'] {problem}.",
                hint='For example {"MAX_RISK": "medium", "LOCK_BUDGET_SECONDS": 2}.',
                id="migration_studio.E010",
            )
        )
    return errors


def _positive_number(value: object) -> bool:
    """A finite number above zero (``True`` is not a rate)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _absolute_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _rule_errors(path: object) -> list[Error]:
    try:
        rule = import_string(str(path))
    except ImportError as error:
        return [
            Error(
                f"{SETTING_NAME}['RULES'] names {path}, which cannot be imported: {error}.",
                id="migration_studio.E007",
            )
        ]
    if not (isinstance(rule, type) and issubclass(rule, Rule) and rule.id):
        return [
            Error(
                f"{SETTING_NAME}['RULES'] names {path}, which is not a Rule subclass with an id.",
                hint="Subclass migration_studio.risk.base.Rule and set id, title and severity.",
                id="migration_studio.E007",
            )
        ]
    return []
