"""The app's settings: ``MIGRATION_STUDIO`` merged over documented defaults.

This is the only module that reads ``django.conf.settings`` for the app's own options. Values are
cached and the cache is dropped on ``setting_changed`` so ``override_settings`` works in tests.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING_NAME = "MIGRATION_STUDIO"

#: Documented defaults; ``None`` means "derived at read time" (see :func:`bundle_root`).
DEFAULTS: dict[str, Any] = {
    # Where bundles are written: <BUNDLE_ROOT>/<app_label>/<migration_name>/.
    "BUNDLE_ROOT": None,
    # Reuse scratch databases already migrated to a given migration-graph state.
    "SCRATCH_CACHE": True,
    # Where SQLite cache files live (PostgreSQL keeps cached states as template databases).
    "CACHE_DIR": None,
    # How many cached states to keep per database server (oldest are dropped first).
    "CACHE_SIZE": 3,
    # Risk rules: extra rule classes by dotted path, and rule ids to switch off.
    "RULES": [],
    "DISABLED_RULES": [],
    # Throughputs of the time model, rows per second: {"postgresql": {"rewrite": 400_000}}.
    "ESTIMATE_RATES": {},
    # Where your team serves migration_studio's documentation; bundle READMEs then link each
    # finding to its rule's section there. None: no links (each finding explains itself).
    "DOCS_URL": None,
    # The time one batch of a generated backfill (data-migration stub) should take, in seconds:
    # a batch keeps its rows locked until it commits, so a write to one of them waits that long.
    "BACKFILL_BATCH_SECONDS": 0.02,
    # makesafemigration writes the safe versions (--safe) by default.
    "SAFE_REWRITES": False,
    # The lock_timeout, in seconds, of the migrations --safe writes.
    "SAFE_LOCK_TIMEOUT": 2.0,
    # The release gate's policy (predeploycheck): see migration_studio.gate.policy.DEFAULTS.
    "GATE": {},
}


@cache
def get_settings() -> dict[str, Any]:
    """Return the effective settings: user values over :data:`DEFAULTS`."""
    user = getattr(settings, SETTING_NAME, {})
    merged = dict(DEFAULTS)
    if isinstance(user, dict):
        merged.update(user)
    return merged


def get(name: str) -> Any:
    return get_settings()[name]


def bundle_root() -> Path:
    """The directory bundles are written to (``BASE_DIR / "migration_bundles"`` by default)."""
    configured = get("BUNDLE_ROOT")
    if configured:
        return Path(configured)
    base_dir = getattr(settings, "BASE_DIR", None)
    return Path(base_dir or Path.cwd()) / "migration_bundles"


def cache_dir() -> Path:
    configured = get("CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "migration_studio_cache"


def rule_docs_url(rule_id: str) -> str:
    """The absolute URL of a built-in rule's documentation, or "" when DOCS_URL is None."""
    base = get("DOCS_URL")
    if not base:
        return ""
    return f"{str(base).rstrip('/')}/rules.html#{rule_id.lower()}"


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        get_settings.cache_clear()
