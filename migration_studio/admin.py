"""The review dashboard, in the Django admin: bundles (list, detail, approvals, actions), the
release gate's runs, approvals, and an overview. Pages only read the bundle files (inside
BUNDLE_ROOT, at the place each record's app and migration give); the records are kept in step
with the files when the list opens."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime
from django.views.decorators.http import require_POST

from . import conf, services
from .exceptions import BundleError, RecordsUnavailable
from .models import Approval, DeploymentCheck, MigrationBundle
from .review import listing
from .review.detail import detail_context, run_views
from .review.files import OutsideRoot, bundle_path
from .review.rules import rule_page
from .review.sqlview import stylesheet
from .review.sync import refresh
from .validation.records import approve
from .validation.result import content_hash

#: How many bundles the "validate" action runs at most (it runs in the request).
VALIDATE_AT_MOST = 3
APPROVE_PERMISSION = "migration_studio.approve_migrationbundle"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records mirror files and commands' runs: nothing is added or deleted by hand (without the
    delete permission, the admin offers no "delete selected" action either)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MigrationBundle)
class MigrationBundleAdmin(ReadOnlyAdmin):
    list_display = (
        "migration",
        "app_label",
        "created",
        "risk_badge",
        "reversible",
        "last_validation",
        "gate_verdict",
        "approval",
        "stale_marker",
    )
    list_display_links = ("migration",)
    list_filter = (
        "app_label",
        listing.RiskFilter,
        listing.ValidationFilter,
        listing.ApprovalFilter,
        "stale",
    )
    search_fields = ("migration_name",)
    ordering = ("-created_at", "app_label", "-migration_name")
    list_per_page = 50
    actions = ("resync", "validate")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[MigrationBundle]:
        return listing.annotated(super().get_queryset(request))

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("overview/", wrap(self.overview_view), name="migration_studio_overview"),
            path(
                "<int:pk>/approve/",
                wrap(require_POST(self.approve_view)),
                name="migration_studio_approve",
            ),
            path(
                "<int:pk>/runs/<int:run_pk>/",
                wrap(self.run_view),
                name="migration_studio_validationrun",
            ),
            path("rules/<str:rule_id>/", wrap(self.rule_view), name="migration_studio_rule"),
            *super().get_urls(),
        ]

    # -- list ------------------------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "GET" and self.has_view_permission(request):
            self._sync(request)
        context = {
            "ms_stylesheet": stylesheet(),
            "title": "Migration bundles",
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def _sync(self, request: HttpRequest, only: set[int] | None = None) -> int:
        try:
            result = refresh(conf.bundle_root(), only=only)
        except RecordsUnavailable as why:
            self.message_user(
                request, f"The list was not updated from the files: {why}.", messages.ERROR
            )
            return 0
        if result.problem:
            self.message_user(request, result.problem, messages.ERROR)
        for directory, why in result.unreadable[:5]:
            self.message_user(request, f"{directory} cannot be read: {why}", messages.WARNING)
        if len(result.unreadable) > 5:
            self.message_user(
                request,
                f"{len(result.unreadable) - 5} more bundle directories cannot be read.",
                messages.WARNING,
            )
        return result.read

    @admin.display(description="migration", ordering="migration_name")
    def migration(self, record: MigrationBundle) -> str:
        return record.migration_name

    @admin.display(description="created", ordering="created_at")
    def created(self, record: MigrationBundle) -> str:
        return moment(record.created_at)

    @admin.display(description="risk", ordering="risk")
    def risk_badge(self, record: MigrationBundle) -> str:
        return risk_badge(record.risk, record.counts)

    @admin.display(description="last validation", ordering="last_validated_at")
    def last_validation(self, record: Any) -> str:
        state = listing.validation_state(record)
        if state == "never":
            return mark_safe('<span class="ms-validation" data-status="never">never</span>')
        older = "" if record.last_content == record.content_sha256 else " (earlier content)"
        return format_html(
            '<span class="ms-validation ms-status-{}" data-status="{}">{}</span>'
            "<br><small>{} · {}{}</small>",
            state,
            state,
            state,
            moment(record.last_validated_at),
            record.last_vendor,
            older,
        )

    @admin.display(description="gate")
    def gate_verdict(self, record: Any) -> str:
        if not record.gate_status:
            return "—"
        return format_html(
            '<span class="ms-badge ms-verdict-{}">{}</span><br><small>{}</small>',
            record.gate_status,
            record.gate_status,
            moment(record.gate_at),
        )

    @admin.display(description="approval")
    def approval(self, record: Any) -> str:
        state = listing.approval_state(record)
        label = {"approved": "approved", "stale": "approved before a change", "none": "—"}[state]
        return format_html(
            '<span class="ms-approval-state ms-approval-{}" data-state="{}">{}</span>',
            state,
            state,
            label,
        )

    @admin.display(description="stale", ordering="stale")
    def stale_marker(self, record: MigrationBundle) -> str:
        if not record.stale:
            return mark_safe('<span class="ms-counts">no</span>')
        return format_html(
            '<span class="ms-badge ms-stale" title="{}">stale</span>', record.stale_reason
        )

    # -- actions ---------------------------------------------------------------------------

    @admin.action(description="Re-read selected bundles from their files", permissions=["change"])
    def resync(self, request: HttpRequest, queryset: QuerySet[MigrationBundle]) -> None:
        read = self._sync(request, only=set(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Re-read {read} bundle(s) from their files.")

    @admin.action(
        description=f"Validate selected bundles (at most {VALIDATE_AT_MOST})",
        permissions=["change"],
    )
    def validate(self, request: HttpRequest, queryset: QuerySet[MigrationBundle]) -> None:
        records = list(queryset[: VALIDATE_AT_MOST + 1])
        if len(records) > VALIDATE_AT_MOST:
            self.message_user(
                request,
                f"Select at most {VALIDATE_AT_MOST} bundles to validate here (each runs while "
                "the page waits); validate more with manage.py validatemigration.",
                messages.ERROR,
            )
            return
        for record in records:
            try:
                result, not_recorded = services.validate_bundle(bundle_path(record), "default")
            except (OutsideRoot, BundleError) as error:
                self.message_user(request, f"{record}: not validated. {error}", messages.ERROR)
                continue
            if result.passed:
                self.message_user(request, f"{record}: validation passed.", messages.SUCCESS)
            else:
                first = result.error.strip().splitlines()[0] if result.error.strip() else ""
                self.message_user(request, f"{record}: validation FAILED. {first}", messages.ERROR)
            if not_recorded:
                self.message_user(request, f"{record}: {not_recorded}.", messages.WARNING)

    # -- detail, approval, runs, rules, overview -------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        record = self._record(request, object_id)
        context = detail_context(record)
        for problem in context.pop("problems"):
            self.message_user(request, problem, messages.WARNING)
        try:
            current = content_hash(bundle_path(record))
        except (OutsideRoot, OSError):
            current = ""
        context.update(
            self._context(request, str(record)),
            current_content=current,
            can_approve=request.user.has_perm(APPROVE_PERMISSION),
        )
        return TemplateResponse(
            request, "admin/migration_studio/migrationbundle/detail.html", context
        )

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        record = self._record(request, str(pk))
        if not request.user.has_perm(APPROVE_PERMISSION):
            raise PermissionDenied
        detail = reverse("admin:migration_studio_migrationbundle_change", args=[record.pk])
        try:
            path = bundle_path(record)
            current = content_hash(path)
        except (OutsideRoot, OSError) as error:
            self.message_user(request, f"Not approved: {error}", messages.ERROR)
            return HttpResponseRedirect(detail)
        if request.POST.get("content_sha256") != current:
            self.message_user(
                request,
                "Not approved: the bundle's files changed since the page was opened; review "
                "them again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(detail)
        comment = request.POST.get("comment", "").strip()[:2000]
        try:
            approve(path, request.user.get_username(), comment)
        except (BundleError, RecordsUnavailable) as error:
            self.message_user(request, f"Not approved: {error}", messages.ERROR)
        else:
            self.message_user(request, f"Approved {record} as it is now.", messages.SUCCESS)
        return HttpResponseRedirect(detail)

    def run_view(self, request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
        record = self._record(request, str(pk))
        run = get_object_or_404(record.validations, pk=run_pk)
        context = self._context(request, f"Validation of {record}")
        context.update(record=record, view=run_views(record, [run], timelines=1)[0])
        return TemplateResponse(request, "admin/migration_studio/migrationbundle/run.html", context)

    def rule_view(self, request: HttpRequest, rule_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        rule = rule_page(rule_id)
        if rule is None:
            raise Http404("No such rule.")
        context = self._context(request, f"{rule['id']}: {rule['title']}")
        context["rule"] = rule
        return TemplateResponse(
            request, "admin/migration_studio/migrationbundle/rule.html", context
        )

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        self._sync(request)
        context = self._context(request, "Migration review overview")
        context.update(
            counts=listing.overview_counts(),
            checks=list(DeploymentCheck.objects.defer("result")[:10]),
            review_risks=" or ".join(listing.REVIEW_RISKS),
        )
        return TemplateResponse(
            request, "admin/migration_studio/migrationbundle/overview.html", context
        )

    def _record(self, request: HttpRequest, object_id: str) -> MigrationBundle:
        record = self.get_object(request, object_id)
        if record is None:
            raise Http404("No such bundle record.")
        if not self.has_view_permission(request, record):
            raise PermissionDenied
        return record

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "ms_stylesheet": stylesheet(),
        }


def moment(value: Any) -> str:
    """A date and time, short, in the current time zone."""
    return date_format(localtime(value), "Y-m-d H:i") if value else ""


def risk_badge(risk: str, counts: dict[str, int] | None = None) -> str:
    risk = risk or "none"
    shown = [(s, (counts or {}).get(s)) for s in listing.RISKS if (counts or {}).get(s)]
    return format_html(
        '<span class="ms-badge ms-risk-{}" data-risk="{}">{}</span>{}',
        risk,
        risk,
        risk,
        format_html(
            '<br><small class="ms-counts">{}</small>',
            ", ".join(f"{n} {s}" for s, n in shown),
        )
        if shown
        else "",
    )


@admin.register(DeploymentCheck)
class DeploymentCheckAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "database", "verdict_badge", "migrations", "vendor", "override")
    list_filter = ("verdict", "database", "vendor")
    ordering = ("-created_at",)
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeploymentCheck]:
        return super().get_queryset(request).defer("result")

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return super().changelist_view(request, {"ms_stylesheet": stylesheet()})

    @admin.display(description="verdict", ordering="verdict")
    def verdict_badge(self, check: DeploymentCheck) -> str:
        return format_html(
            '<span class="ms-badge ms-verdict-{}">{}</span>', check.verdict, check.verdict
        )

    @admin.display(description="migrations")
    def migrations(self, check: DeploymentCheck) -> int:
        return len(check.plan or [])

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        check = self.get_object(request, object_id)
        if check is None:
            raise Http404("No such deployment check.")
        if not self.has_view_permission(request, check):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Release gate on {check.database}: {check.verdict}",
            "ms_stylesheet": stylesheet(),
            "check": check,
            "result": check.result if isinstance(check.result, dict) else {},
            "bundles": _bundle_ids(check.plan or []),
        }
        return TemplateResponse(
            request, "admin/migration_studio/deploymentcheck/detail.html", context
        )


def _bundle_ids(plan: list[str]) -> dict[str, int]:
    """Record ids of the plan's bundles, by migration label (for links)."""
    wanted = Q()
    for label in plan:
        if isinstance(label, str) and "." in label:
            app_label, name = label.split(".", 1)
            wanted |= Q(app_label=app_label, migration_name=name)
    if not wanted:
        return {}
    return {
        f"{app_label}.{name}": pk
        for app_label, name, pk in MigrationBundle.objects.filter(wanted).values_list(
            "app_label", "migration_name", "pk"
        )
    }


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("app_label", "migration_name", "approved_by", "approved_at", "current")
    list_filter = ("app_label", "approved_by")
    search_fields = ("migration_name", "approved_by", "comment")
    ordering = ("-approved_at",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Approval]:
        bundles = MigrationBundle.objects.filter(
            app_label=OuterRef("app_label"),
            migration_name=OuterRef("migration_name"),
            content_sha256=OuterRef("content_sha256"),
        )
        return super().get_queryset(request).annotate(is_current=Exists(bundles))

    @admin.display(description="of the current content", boolean=True)
    def current(self, approval: Any) -> bool:
        return approval.is_current
