"""A rule's page in the admin: what the registry knows of it (the built-in rules and the
project's own, disabled ones included), with a link to its documentation when DOCS_URL is set."""

from __future__ import annotations

import inspect
from typing import Any

from django.utils.module_loading import import_string

from .. import conf
from ..risk.registry import BUILTIN_RULES


def rule_page(rule_id: str) -> dict[str, Any] | None:
    """The rule with this id, or None when there is none."""
    extra = [import_string(path) for path in conf.get("RULES") or ()]
    disabled = set(conf.get("DISABLED_RULES") or ())
    for rule in (*BUILTIN_RULES, *extra):
        if rule.id == rule_id:
            instance = rule()
            return {
                "id": rule.id,
                "title": rule.title,
                "severity": rule.severity.label,
                "backends": ", ".join(rule.backends),
                "directions": ", ".join(
                    {"forward": "deploying (up.sql)", "reverse": "rolling back (down.sql)"}.get(
                        d, d
                    )
                    for d in rule.directions
                ),
                "example": rule.example,
                "safe_alternative": rule.safe_alternative,
                "description": inspect.getdoc(rule) if rule.__doc__ else "",
                "docs_url": instance.documentation_url(),
                "disabled": rule.id in disabled,
                "builtin": rule in BUILTIN_RULES,
            }
    return None
