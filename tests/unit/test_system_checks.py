"""The system checks of the ``MIGRATION_STUDIO`` setting, in process: one table row per check id.

The end-to-end tests (``manage.py check`` in a subprocess, tests/test_errors.py) cover how the
errors reach the user; these cover each check's condition, quickly. Every id that the checks module
defines must have a case that reports it and one that does not (test_every_check_id_has_cases).
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from django.core.checks import Tags, run_checks

from migration_studio.checks import check_settings
from migration_studio.conf import DEFAULTS

RULE = "tests.custom_rules.NoTagTable"  # a valid project rule (a Rule subclass with an id)


def case(check_id: str, value: object, name: str):
    return pytest.param(check_id, value, id=f"{check_id.rsplit('.', 1)[1]}-{name}")


#: MIGRATION_STUDIO values that the check ``check_id`` reports, and it alone.
BAD = [
    case("migration_studio.E001", None, "None"),
    case("migration_studio.E001", [("BUNDLE_ROOT", "/srv/bundles")], "list-of-pairs"),
    case("migration_studio.E001", "BUNDLE_ROOT=/srv/bundles", "str"),
    case("migration_studio.E002", {"BUNDLE_ROT": "/srv/bundles"}, "misspelt-key"),
    case("migration_studio.E002", {"DOCS_URL": None, "RULE": []}, "one-unknown-among-known"),
    case("migration_studio.E003", {"BUNDLE_ROOT": 42}, "bundle-root-int"),
    case("migration_studio.E003", {"CACHE_DIR": b"/tmp/cache"}, "cache-dir-bytes"),
    case("migration_studio.E004", {"SCRATCH_CACHE": "yes"}, "str"),
    case("migration_studio.E004", {"SCRATCH_CACHE": 1}, "int"),
    case("migration_studio.E004", {"SCRATCH_CACHE": None}, "None"),
    case("migration_studio.E005", {"CACHE_SIZE": 0}, "zero"),
    case("migration_studio.E005", {"CACHE_SIZE": -1}, "negative"),
    case("migration_studio.E005", {"CACHE_SIZE": True}, "bool"),
    case("migration_studio.E005", {"CACHE_SIZE": 2.0}, "float"),
    case("migration_studio.E005", {"CACHE_SIZE": "3"}, "str"),
    case("migration_studio.E005", {"CACHE_SIZE": None}, "None"),
    case("migration_studio.E006", {"RULES": RULE}, "rules-str"),
    case("migration_studio.E006", {"RULES": None}, "rules-None"),
    case("migration_studio.E006", {"DISABLED_RULES": "MS103"}, "disabled-str"),
    case("migration_studio.E006", {"DISABLED_RULES": ["MS103", 144]}, "disabled-int-item"),
    case("migration_studio.E006", {"DISABLED_RULES": {"MS103"}}, "disabled-set"),
    case("migration_studio.E007", {"RULES": ["tests.custom_rules.Missing"]}, "no-attribute"),
    case("migration_studio.E007", {"RULES": ["no_such_module_xyz.Rule"]}, "no-module"),
    case("migration_studio.E007", {"RULES": ["NoTagTable"]}, "not-dotted"),
    case("migration_studio.E007", {"RULES": ["migration_studio.risk.base.Rule"]}, "rule-no-id"),
    case("migration_studio.E007", {"RULES": ["migration_studio.risk.base.Severity"]}, "not-rule"),
    case("migration_studio.E007", {"RULES": ["migration_studio.risk.base.DOCS_PAGE"]}, "not-class"),
    case("migration_studio.E008", {"ESTIMATE_RATES": [("postgresql", {})]}, "not-dict"),
    case("migration_studio.E008", {"ESTIMATE_RATES": {"postgresql": 400_000}}, "vendor-not-dict"),
    case("migration_studio.E008", {"ESTIMATE_RATES": {"postgresql": {"rewrite": 0}}}, "zero"),
    case("migration_studio.E008", {"ESTIMATE_RATES": {"sqlite": {"scan": -5.0}}}, "negative"),
    case("migration_studio.E008", {"ESTIMATE_RATES": {"sqlite": {"scan": "fast"}}}, "str"),
    case("migration_studio.E008", {"ESTIMATE_RATES": {"sqlite": {"scan": math.nan}}}, "nan"),
    case("migration_studio.E008", {"ESTIMATE_RATES": {"sqlite": {"scan": True}}}, "bool"),
    case("migration_studio.E008", {"ESTIMATE_RATES": {"sqlite": {"scan": math.inf}}}, "inf"),
    case("migration_studio.E008", {"ESTIMATE_RATES": None}, "None"),
    case("migration_studio.E009", {"DOCS_URL": "docs/"}, "relative"),
    case("migration_studio.E009", {"DOCS_URL": "//docs.example.com/ms/"}, "scheme-relative"),
    case("migration_studio.E009", {"DOCS_URL": "ftp://docs.example.com/"}, "ftp"),
    case("migration_studio.E009", {"DOCS_URL": "https:///ms/"}, "no-host"),
    case("migration_studio.E009", {"DOCS_URL": ""}, "empty"),
    case("migration_studio.E009", {"DOCS_URL": 42}, "int"),
    case("migration_studio.E010", {"GATE": []}, "gate-not-dict"),
    case("migration_studio.E010", {"GATE": {"MAX_RISK": "severe"}}, "unknown-severity"),
    case("migration_studio.E010", {"GATE": {"MAX_RSIK": "high"}}, "misspelt-key"),
    case("migration_studio.E010", {"GATE": {"BLOCKING_RULES": "MS153"}}, "rules-str"),
    case("migration_studio.E010", {"GATE": {"UNBUNDLED_APPS": [1]}}, "apps-int"),
    case("migration_studio.E010", {"GATE": {"REQUIRE_VALIDATION": "yes"}}, "validation-str"),
    case("migration_studio.E010", {"GATE": {"LOCK_BUDGET_SECONDS": 0}}, "budget-zero"),
    case("migration_studio.E010", {"GATE": {"LOCK_TIMEOUT": -1}}, "timeout-negative"),
    case("migration_studio.E010", {"GATE": {"STATEMENT_TIMEOUT": True}}, "timeout-bool"),
    case("migration_studio.E010", {"GATE": {"APPLY_ATTEMPTS": 0}}, "attempts-zero"),
    case("migration_studio.E010", {"GATE": {"APPROVAL_REQUIRED_ABOVE": "big"}}, "approval-risk"),
    case("migration_studio.E010", {"GATE": {"APPLY_BACKOFF": "1s"}}, "backoff-str"),
    case("migration_studio.E011", {"BACKFILL_BATCH_SECONDS": 0}, "batch-zero"),
    case("migration_studio.E011", {"BACKFILL_BATCH_SECONDS": "0.02"}, "batch-str"),
    case("migration_studio.E011", {"BACKFILL_BATCH_SECONDS": 60}, "batch-minute"),
    case("migration_studio.E012", {"SAFE_REWRITES": "yes"}, "safe-str"),
    case("migration_studio.E013", {"SAFE_LOCK_TIMEOUT": 0}, "lock-timeout-zero"),
    case("migration_studio.E013", {"SAFE_LOCK_TIMEOUT": "2s"}, "lock-timeout-str"),
]

#: Values of the same settings that are valid: no error at all, so not ``check_id``.
GOOD = [
    case("migration_studio.E001", {}, "empty-dict"),
    case("migration_studio.E002", dict(DEFAULTS), "every-known-key"),
    case("migration_studio.E003", {"BUNDLE_ROOT": "/srv/bundles"}, "bundle-root-str"),
    case("migration_studio.E003", {"BUNDLE_ROOT": Path("/srv/bundles")}, "bundle-root-path"),
    case("migration_studio.E003", {"CACHE_DIR": PurePosixPath("/tmp/ms")}, "cache-dir-purepath"),
    case("migration_studio.E003", {"CACHE_DIR": PureWindowsPath("C:/ms")}, "cache-dir-windows"),
    case("migration_studio.E003", {"BUNDLE_ROOT": None, "CACHE_DIR": None}, "None"),
    case("migration_studio.E004", {"SCRATCH_CACHE": False}, "False"),
    case("migration_studio.E004", {"SCRATCH_CACHE": True}, "True"),
    case("migration_studio.E005", {"CACHE_SIZE": 1}, "one"),
    case("migration_studio.E005", {"CACHE_SIZE": 50}, "fifty"),
    case("migration_studio.E011", {"BACKFILL_BATCH_SECONDS": 0.05}, "batch-50ms"),
    case("migration_studio.E012", {"SAFE_REWRITES": True}, "safe-true"),
    case("migration_studio.E013", {"SAFE_LOCK_TIMEOUT": 0.5}, "lock-timeout-half"),
    case("migration_studio.E006", {"RULES": (RULE,), "DISABLED_RULES": ("MS103",)}, "tuples"),
    case("migration_studio.E006", {"DISABLED_RULES": ["MS103", "NOPE999"]}, "unknown-id-ignored"),
    case("migration_studio.E006", {"RULES": [], "DISABLED_RULES": []}, "empty"),
    case("migration_studio.E007", {"RULES": [RULE]}, "project-rule"),
    case(
        "migration_studio.E007",
        {"RULES": ["migration_studio.risk.rules.locks.AccessExclusiveLock"]},
        "builtin-rule",
    ),
    case("migration_studio.E008", {"ESTIMATE_RATES": {}}, "empty"),
    case(
        "migration_studio.E008",
        {"ESTIMATE_RATES": {"postgresql": {"rewrite": 250_000, "scan": 1.5e6}, "sqlite": {}}},
        "int-and-float",
    ),
    case(
        "migration_studio.E008",
        {"ESTIMATE_RATES": {"postgres": {"rewrites": 1}}},
        "misspelt-names-not-checked",
    ),
    case("migration_studio.E009", {"DOCS_URL": None}, "None"),
    case("migration_studio.E010", {"GATE": {}}, "gate-empty"),
    case(
        "migration_studio.E010",
        {
            "GATE": {
                "MAX_RISK": "high",
                "BLOCKING_RULES": ["MS153"],
                "UNBUNDLED_APPS": ("auth",),
                "REQUIRE_VALIDATION": False,
                "LOCK_BUDGET_SECONDS": 2,
                "DRIFT_BLOCKS": False,
                "INCLUDE_ROLLBACK_RISK": True,
                "APPROVAL_REQUIRED_ABOVE": "medium",
                "LONG_TRANSACTION_SECONDS": 0.5,
                "LOCK_TIMEOUT": 0.25,
                "STATEMENT_TIMEOUT": 30,
                "APPLY_LOCK_TIMEOUT": 0.2,
                "APPLY_STATEMENT_TIMEOUT": 600,
                "APPLY_ATTEMPTS": 10,
                "APPLY_BACKOFF": 0.5,
            }
        },
        "every-key",
    ),
    case("migration_studio.E010", {"GATE": {"LOCK_BUDGET_SECONDS": None}}, "no-budget"),
    case("migration_studio.E009", {"DOCS_URL": "https://docs.example.com/ms/"}, "https"),
    case("migration_studio.E009", {"DOCS_URL": "http://localhost:8000"}, "http-no-path"),
]


def error_ids(value: object, settings) -> list[str]:
    settings.MIGRATION_STUDIO = value
    errors = check_settings()
    assert all(error.is_serious() for error in errors)  # each check is an Error
    return [error.id for error in errors]


@pytest.mark.parametrize(("check_id", "value"), BAD)
def test_bad_setting_is_reported(check_id, value, settings) -> None:
    assert error_ids(value, settings) == [check_id]


@pytest.mark.parametrize(("check_id", "value"), GOOD)
def test_good_setting_is_not_reported(check_id, value, settings) -> None:
    ids = error_ids(value, settings)
    assert check_id not in ids
    assert ids == []


def test_every_check_id_has_cases() -> None:
    """A new check in checks.py fails here until it has a bad and a good case above."""
    source = inspect.getsource(sys.modules[check_settings.__module__])
    defined = set(re.findall(r"migration_studio\.E\d+", source))
    assert defined  # the pattern still finds the ids
    assert {param.values[0] for param in BAD} == defined
    assert {param.values[0] for param in GOOD} == defined


def test_several_problems_are_all_reported(settings) -> None:
    ids = error_ids(
        {
            "BUNDLE_ROT": "/srv",
            "CACHE_DIR": 1,
            "SCRATCH_CACHE": "no",
            "CACHE_SIZE": 0,
            "DISABLED_RULES": "MS103",
            "RULES": ["no_such_module_xyz.Rule", RULE, "migration_studio.risk.base.Rule"],
            "ESTIMATE_RATES": {"postgresql": {"rewrite": -1}},
            "DOCS_URL": "docs/",
        },
        settings,
    )
    assert ids == [
        "migration_studio.E002",
        "migration_studio.E003",
        "migration_studio.E004",
        "migration_studio.E005",
        "migration_studio.E006",
        "migration_studio.E007",  # one per wrong path of RULES; the valid one has none
        "migration_studio.E007",
        "migration_studio.E008",
        "migration_studio.E009",
    ]


def test_the_check_is_registered_with_the_compatibility_tag(settings) -> None:
    settings.MIGRATION_STUDIO = None
    ids = [error.id for error in run_checks(tags=[Tags.compatibility])]
    assert "migration_studio.E001" in ids
    assert "migration_studio.E001" not in [error.id for error in run_checks(tags=[Tags.models])]


@pytest.mark.parametrize(
    "value",
    [{1: True}, {Path("BUNDLE_ROOT"): "/srv"}, {"FOO": 1, 2: 3}],
    ids=["int-key", "path-key", "str-and-int-keys"],
)
def test_non_string_key_is_reported_as_unknown(value, settings) -> None:
    assert error_ids(value, settings) == ["migration_studio.E002"]
