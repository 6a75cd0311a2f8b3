"""Findings, severities and the Rule base class that every risk rule extends."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .. import conf

if TYPE_CHECKING:
    from .context import MigrationContext, OperationContext

#: Where each rule is explained (one anchor per rule id).
DOCS_PAGE = "docs/rules.rst"


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        return cls[value.upper()]


@dataclass
class Finding:
    """One risk, on one operation, with what happens, how big, and the safe way."""

    rule: str
    title: str
    severity: Severity
    message: str
    operation: int | None = None
    #: "forward" (up.sql) or "reverse" (down.sql, i.e. the rollback).
    direction: str = "forward"
    statements: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    lock: str | None = None
    blocks_reads: bool = False
    blocks_writes: bool = False
    rewrite: bool = False
    scan: bool = False
    data_loss: bool = False
    data_loss_on_rollback: bool = False
    breaks_old_code: bool = False
    rows: int | None = None
    estimated_seconds: float | None = None
    lock_seconds: float | None = None
    safe_alternative: str = ""
    docs: str = ""
    #: The reason given when the finding was acknowledged for this migration.
    acknowledged: str | None = None
    #: The absolute URL of the rule's documentation ("" when there is none).
    docs_url: str = ""
    #: What ``makesafemigration --safe`` would write instead of the operation, when that takes
    #: this finding away ("" otherwise; set by ``makesafemigration`` run without ``--safe``).
    safe_rewrite: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.label
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        data = dict(data)
        data["severity"] = Severity.parse(data["severity"])
        return cls(**data)


class Rule:
    """A risk rule: class attributes describe it, :meth:`check` finds it.

    Subclass it, set the attributes, implement :meth:`check` (yield findings made with
    :meth:`finding`), and list the class in ``MIGRATION_STUDIO["RULES"]`` by dotted path.
    """

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: The default severity; :meth:`finding` may raise or lower it with a reason.
    severity: ClassVar[Severity] = Severity.MEDIUM
    #: Vendors the rule applies to.
    backends: ClassVar[tuple[str, ...]] = ("postgresql", "sqlite", "mysql")
    #: Which SQL it reads: "forward" (up.sql) and/or "reverse" (down.sql, the rollback).
    directions: ClassVar[tuple[str, ...]] = ("forward",)
    #: "operation": :meth:`check` runs per operation; "migration": :meth:`check_migration` once.
    scope: ClassVar[str] = "operation"
    #: A short example of SQL or an operation that triggers it, for the docs.
    example: ClassVar[str] = ""
    safe_alternative: ClassVar[str] = ""
    #: The absolute URL of the rule's documentation. Built-in rules leave it empty and link to
    #: their section of the documentation at ``MIGRATION_STUDIO["DOCS_URL"]``; set it on your own.
    docs_url: ClassVar[str] = ""

    @property
    def docs(self) -> str:
        return f"{DOCS_PAGE}#{self.id.lower()}"

    def documentation_url(self) -> str:
        if self.docs_url:
            return self.docs_url
        if type(self).__module__.startswith("migration_studio."):
            return conf.rule_docs_url(self.id)
        return ""

    def check(self, context: OperationContext) -> Iterable[Finding]:
        raise NotImplementedError(f"{type(self).__name__} must implement check(context)")

    def check_migration(self, migration: MigrationContext) -> Iterable[Finding]:
        raise NotImplementedError(
            f"{type(self).__name__} (scope 'migration') must implement check_migration(migration)"
        )

    def applies_to(self, vendor: str) -> bool:
        return vendor in self.backends

    def finding(self, context: OperationContext, message: str, **details: Any) -> Finding:
        details.setdefault("severity", self.severity)
        details.setdefault("safe_alternative", self.safe_alternative)
        return Finding(
            rule=self.id,
            title=self.title,
            message=message,
            operation=context.index,
            direction=context.direction,
            docs=self.docs,
            docs_url=self.documentation_url(),
            **details,
        )


def worst(findings: Iterable[Finding]) -> Severity | None:
    active = [f.severity for f in findings if f.acknowledged is None]
    return max(active) if active else None


def by_severity(findings: Iterable[Finding]) -> Iterator[Finding]:
    return iter(sorted(findings, key=lambda f: (-f.severity, f.operation or 0, f.rule)))
