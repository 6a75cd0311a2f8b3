"""The app's records of bundles and of their validations (the bundle files stay the truth)."""

from __future__ import annotations

from django.db import models


class MigrationBundle(models.Model):
    app_label = models.CharField(max_length=100)
    migration_name = models.CharField(max_length=255)
    path = models.CharField(max_length=1000, help_text="The bundle directory.")
    migration_sha256 = models.CharField(max_length=64)
    up_sha256 = models.CharField(max_length=64)
    down_sha256 = models.CharField(max_length=64)
    reversible = models.BooleanField(default=True)
    risk = models.CharField(max_length=16, blank=True, help_text="Overall risk of report.json.")
    vendor = models.CharField(max_length=32)
    operations = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(help_text="When the bundle was written.")
    synced_at = models.DateTimeField(auto_now=True)
    content_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="Hash of the bundle content (what validations and approvals are of).",
    )
    forward_risk = models.CharField(max_length=16, blank=True)
    counts = models.JSONField(default=dict, help_text="Findings per severity (report.json).")
    stale = models.BooleanField(
        default=False, help_text="The files no longer match the hashes bundle.json recorded."
    )
    stale_reason = models.CharField(max_length=300, blank=True)
    migration_file = models.CharField(max_length=1000, blank=True)
    signature = models.CharField(
        max_length=64,
        blank=True,
        help_text="Sizes and modification times of the files when last read (what a sync "
        "compares to know whether to read them again).",
    )

    class Meta:
        ordering = ["app_label", "migration_name"]
        permissions = [("approve_migrationbundle", "Can approve a migration bundle")]
        constraints = [
            models.UniqueConstraint(
                fields=["app_label", "migration_name"], name="migration_studio_bundle_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.app_label}.{self.migration_name}"


class ValidationRun(models.Model):
    class Status(models.TextChoices):
        PASSED = "passed"
        FAILED = "failed"

    bundle = models.ForeignKey(
        MigrationBundle, on_delete=models.CASCADE, related_name="validations"
    )
    content_sha256 = models.CharField(
        max_length=64, help_text="Hash of the bundle files the run validated."
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    vendor = models.CharField(max_length=32)
    server_version = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    steps = models.JSONField(default=list)
    checks = models.JSONField(default=list)
    schema_diff = models.JSONField(default=list)
    locks = models.JSONField(default=list)
    sample_rows = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["bundle", "-started_at"], name="ms_validation_latest")]

    def __str__(self) -> str:
        return f"{self.bundle} {self.status} {self.started_at:%Y-%m-%d %H:%M}"


class DeploymentCheck(models.Model):
    """One run of the release gate (predeploycheck): what it judged, and its verdict."""

    class Verdict(models.TextChoices):
        PASS = "pass"
        WARN = "warn"
        SKIP = "skip"
        FAIL = "fail"

    created_at = models.DateTimeField(auto_now_add=True)
    database = models.CharField(max_length=100, help_text="The DATABASES alias judged.")
    server = models.CharField(max_length=300, help_text="Where it points (no credentials).")
    vendor = models.CharField(max_length=32)
    tool_version = models.CharField(max_length=32)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    passed = models.BooleanField()
    plan = models.JSONField(default=list, help_text="The migrations to apply, in order.")
    result = models.JSONField(
        default=dict, help_text="The whole verdict, as predeploycheck --format json writes it."
    )
    override = models.TextField(
        blank=True, help_text="Why a 'no' was overridden for --apply, when it was."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["database", "-created_at"], name="ms_deployment_latest")]

    def __str__(self) -> str:
        return f"{self.database} {self.verdict} {self.created_at:%Y-%m-%d %H:%M}"


class GateVerdict(models.Model):
    """The release gate's verdict on one migration in one of its runs (for the bundle list)."""

    deployment_check = models.ForeignKey(
        DeploymentCheck, on_delete=models.CASCADE, related_name="verdicts"
    )
    app_label = models.CharField(max_length=100)
    migration_name = models.CharField(max_length=255)
    status = models.CharField(max_length=8, choices=DeploymentCheck.Verdict.choices)

    class Meta:
        indexes = [models.Index(fields=["app_label", "migration_name"], name="ms_gate_verdict")]

    def __str__(self) -> str:
        return f"{self.app_label}.{self.migration_name}: {self.status}"


class Approval(models.Model):
    """A reviewer's approval of a bundle's exact content. It is kept by migration and content
    hash, not by record, so re-syncing the bundle records never deletes it; it no longer counts
    once the bundle's content changes (another hash)."""

    app_label = models.CharField(max_length=100)
    migration_name = models.CharField(max_length=255)
    content_sha256 = models.CharField(
        max_length=64, help_text="The bundle content it approves (validation.result.content_hash)."
    )
    approved_by = models.CharField(max_length=150, help_text="The reviewer's username.")
    approved_at = models.DateTimeField(auto_now_add=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-approved_at"]
        indexes = [
            models.Index(
                fields=["app_label", "migration_name", "content_sha256"], name="ms_approval"
            )
        ]

    def __str__(self) -> str:
        return f"{self.app_label}.{self.migration_name} approved by {self.approved_by}"
