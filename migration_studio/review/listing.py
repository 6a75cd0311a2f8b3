"""The bundle list: each record with its last validation, approval state and last gate verdict,
annotated in the list's one query (the query count does not grow with the number of bundles),
and the filters of the list's sidebar."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery

from ..models import Approval, GateVerdict, MigrationBundle, ValidationRun

RISKS = ("critical", "high", "medium", "low", "info")
#: Risks for which the overview counts a bundle without an approval as waiting for review.
REVIEW_RISKS = ("critical", "high")


def annotated(queryset: QuerySet[MigrationBundle]) -> QuerySet[MigrationBundle]:
    runs = ValidationRun.objects.filter(bundle=OuterRef("pk")).order_by("-started_at", "-pk")
    approvals = Approval.objects.filter(
        app_label=OuterRef("app_label"), migration_name=OuterRef("migration_name")
    )
    verdicts = GateVerdict.objects.filter(
        app_label=OuterRef("app_label"), migration_name=OuterRef("migration_name")
    ).order_by("-deployment_check__created_at", "-pk")
    return queryset.annotate(
        last_status=Subquery(runs.values("status")[:1]),
        last_validated_at=Subquery(runs.values("started_at")[:1]),
        last_vendor=Subquery(runs.values("vendor")[:1]),
        last_content=Subquery(runs.values("content_sha256")[:1]),
        approved=Exists(approvals.filter(content_sha256=OuterRef("content_sha256"))),
        approved_before=Exists(approvals),
        gate_status=Subquery(verdicts.values("status")[:1]),
        gate_at=Subquery(verdicts.values("deployment_check__created_at")[:1]),
    )


def approval_state(record: Any) -> str:
    """ "approved" (this content), "stale" (an earlier content only) or "none"."""
    if record.approved:
        return "approved"
    return "stale" if record.approved_before else "none"


def validation_state(record: Any) -> str:
    """ "passed" or "failed" (the last run), or "never"."""
    return record.last_status or "never"


class RiskFilter(admin.SimpleListFilter):
    title = "risk"
    parameter_name = "risk"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(risk, risk) for risk in RISKS] + [("none", "none (no report)")]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "none":
            return queryset.filter(risk="")
        if value in RISKS:
            return queryset.filter(risk=value)
        return queryset


class ValidationFilter(admin.SimpleListFilter):
    title = "validation"
    parameter_name = "validation"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("passed", "passed"),
            ("failed", "failed"),
            ("never", "never validated"),
            ("pending", "not proven as it is now"),
        ]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "pending":
            return queryset.exclude(pk__in=_proven(queryset))
        if value == "never":
            return queryset.filter(last_status__isnull=True)
        if value in ("passed", "failed"):
            return queryset.filter(last_status=value)
        return queryset


class ApprovalFilter(admin.SimpleListFilter):
    title = "approval"
    parameter_name = "approval"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("approved", "approved"),
            ("stale", "approved before a change"),
            ("none", "not approved"),
            ("needed", f"{' or '.join(REVIEW_RISKS)} risk, not approved"),
        ]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "approved":
            return queryset.filter(approved=True)
        if value == "stale":
            return queryset.filter(approved=False, approved_before=True)
        if value == "none":
            return queryset.filter(approved_before=False)
        if value == "needed":
            return queryset.filter(risk__in=REVIEW_RISKS, approved=False)
        return queryset


def _proven(queryset: QuerySet) -> QuerySet:
    """The ids of the records whose last validation passed on their current content."""
    return (
        queryset.filter(last_status="passed", last_content=F("content_sha256"))
        .order_by()
        .values("pk")
    )


def overview_counts() -> dict[str, int]:
    """The overview page's figures, in one query: bundles, ``pending`` (no passing validation
    of their current content), ``failed`` (last validation failed), ``unapproved`` (high or
    critical risk without an approval of their current content) and ``stale``."""
    figures = annotated(MigrationBundle.objects.all()).aggregate(
        bundles=Count("pk"),
        proven=Count("pk", filter=Q(last_status="passed", last_content=F("content_sha256"))),
        failed=Count("pk", filter=Q(last_status="failed")),
        unapproved=Count("pk", filter=Q(risk__in=REVIEW_RISKS, approved=False)),
        stale=Count("pk", filter=Q(stale=True)),
    )
    figures["pending"] = figures["bundles"] - figures.pop("proven")
    return figures
