"""The admin review pages, through Django's test client, on bundles written and validated for
real: the list (kept in step with the files), filters, search, detail, approvals, actions, the
overview, the release gate's runs, permissions and the escaping of bundle text."""

from __future__ import annotations

import json
import re
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection, migrations, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from migration_studio.bundle.model import sha256
from migration_studio.gate.record import record as record_gate_run
from migration_studio.gate.result import GateCheck, GateResult, MigrationVerdict
from migration_studio.models import (
    Approval,
    DeploymentCheck,
    GateVerdict,
    MigrationBundle,
    ValidationRun,
)

from .cases import APP, base_operations
from .conftest import migration_source

LIST = reverse("admin:migration_studio_migrationbundle_changelist")
OVERVIEW = reverse("admin:migration_studio_overview")
PASSWORD = "review-pass-1"

#: A risky change: an index built while writes wait, and a NOT NULL column without a default.
RISKY = [
    migrations.AddIndex("book", models.Index(fields=["isbn"], name="book_isbn_idx")),
    migrations.AddField("book", "edition", models.IntegerField(default=1)),
]
#: A harmless one.
SAFE = [migrations.AddField("author", "nickname", models.CharField(max_length=30, null=True))]


@pytest.fixture
def admin_tables():
    call_command(
        "migrate", "contenttypes", verbosity=0
    )  # before auth: permissions need content types
    for app in ("auth", "sessions", "admin", "migration_studio"):
        call_command("migrate", app, verbosity=0)
    User.objects.all().delete()
    for model in (MigrationBundle, ValidationRun, Approval, DeploymentCheck):
        model.objects.all().delete()


class Project:
    """Migrations of the test app in a temporary package, bundled under the test's BUNDLE_ROOT."""

    def __init__(self, packages, root: Path) -> None:
        self.packages = packages
        self.root = root
        self.names: list[str] = []
        packages.create(
            APP, {"0001_initial": migration_source(APP, "0001_initial", base_operations(), [])}
        )
        self.names.append("0001_initial")
        call_command("bundlemigration", APP, "0001", verbosity=0)

    def add(self, name: str, operations: list) -> Path:
        parent = self.names[-1]
        self.packages.add(APP, name, migration_source(APP, name, operations, [(APP, parent)]))
        self.names.append(name)
        call_command("bundlemigration", APP, name, verbosity=0)
        return self.path(name)

    def path(self, name: str) -> Path:
        return self.root / APP / name


def validate(name: str) -> int:
    try:
        call_command("validatemigration", APP, name, stdout=StringIO(), stderr=StringIO())
    except SystemExit as exit_info:
        return int(exit_info.code)
    return 0


def add_own_check(path: Path, description: str, sql: str) -> None:
    """A reviewer's own check in checks.sql (kept when the bundle is regenerated)."""
    with (path / "checks.sql").open("a") as file:
        file.write(f"\n-- check: {description}\n{sql};\n")


@pytest.fixture
def project(admin_tables, packages, bundle_root) -> Project:
    return Project(packages, bundle_root)


def user(name: str, *permissions: str, staff: bool = True) -> Client:
    account = User.objects.create_user(name, password=PASSWORD, is_staff=staff)
    for codename in permissions:
        account.user_permissions.add(
            Permission.objects.get(content_type__app_label="migration_studio", codename=codename)
        )
    client = Client()
    assert client.login(username=name, password=PASSWORD)
    return client


@pytest.fixture
def viewer() -> Client:
    return user("viewer", "view_migrationbundle", "view_deploymentcheck", "view_approval")


@pytest.fixture
def approver() -> Client:
    return user("approver", "view_migrationbundle", "approve_migrationbundle")


@pytest.fixture
def maintainer() -> Client:
    return user("maintainer", "view_migrationbundle", "change_migrationbundle")


def rows(html: str) -> dict[str, str]:
    """The list's rows by migration name (the row's HTML)."""
    found = {}
    for row in re.findall(r"<tr>.*?</tr>", html, re.S):
        name = re.search(r'<th class="field-migration"><a [^>]*>([^<]+)</a>', row)
        if name:
            found[name.group(1)] = row
    return found


def attribute(row: str, css_class: str, name: str) -> str:
    match = re.search(rf'class="[^"]*\b{css_class}\b[^"]*" {name}="([^"]+)"', row)
    assert match, f"no {css_class} in {row}"
    return match.group(1)


def detail_url(name: str) -> str:
    record = MigrationBundle.objects.get(app_label=APP, migration_name=name)
    return reverse("admin:migration_studio_migrationbundle_change", args=[record.pk])


# -- the list -----------------------------------------------------------------------------------


def test_the_list_shows_each_bundle_with_risk_validation_approval_and_staleness(
    project, viewer
) -> None:
    project.add("0002_risky", RISKY)
    project.add("0003_safe", SAFE)
    assert validate("0002_risky") == 0
    add_own_check(
        project.path("0003_safe"),
        "at least one author",
        "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM roundtrip_author)",
    )
    assert validate("0003_safe") == 1  # the scratch database has no author

    page = viewer.get(LIST)
    assert page.status_code == 200
    listed = rows(page.content.decode())
    assert set(listed) == {"0001_initial", "0002_risky", "0003_safe"}
    report = json.loads((project.path("0002_risky") / "report.json").read_text())
    assert attribute(listed["0002_risky"], "ms-badge", "data-risk") == report["risk"] != "low"
    counts = ", ".join(
        f"{report['counts'][s]} {s}"
        for s in ("critical", "high", "medium", "low", "info")
        if report["counts"].get(s)
    )
    assert counts in listed["0002_risky"]
    assert attribute(listed["0002_risky"], "ms-validation", "data-status") == "passed"
    assert attribute(listed["0003_safe"], "ms-validation", "data-status") == "failed"
    assert attribute(listed["0001_initial"], "ms-validation", "data-status") == "never"
    for name in listed:
        assert attribute(listed[name], "ms-approval-state", "data-state") == "none"
        assert "ms-stale" not in listed[name]
    # Newest first.
    names = list(listed)
    assert names.index("0003_safe") < names.index("0002_risky") < names.index("0001_initial")


def test_the_list_follows_the_files_without_a_manual_step(project, viewer) -> None:
    project.add("0002_risky", RISKY)
    assert set(rows(viewer.get(LIST).content.decode())) == {"0001_initial", "0002_risky"}

    project.add("0003_safe", SAFE)  # a new bundle appears
    shutil.rmtree(project.path("0001_initial"))  # a removed one goes
    up = project.path("0002_risky") / "up.sql"
    up.write_text(up.read_text() + "\n-- edited by hand\n")  # an edited one is stale
    listed = rows(viewer.get(LIST).content.decode())
    assert set(listed) == {"0002_risky", "0003_safe"}
    assert 'class="ms-badge ms-stale" title="up.sql changed"' in listed["0002_risky"]
    assert "ms-stale" not in listed["0003_safe"]

    # A migration file edited after its bundle was written makes the bundle stale too.
    migration = project.packages.directories[APP] / "0003_safe.py"
    migration.write_text(migration.read_text() + "\n# edited\n")
    listed = rows(viewer.get(LIST).content.decode())
    assert "the migration file changed" in listed["0003_safe"]


def test_opening_the_list_reads_only_what_changed_and_queries_do_not_grow(project, viewer) -> None:
    project.add("0002_risky", RISKY)
    viewer.get(LIST)  # synced
    synced = dict(MigrationBundle.objects.values_list("migration_name", "synced_at"))
    with CaptureQueriesContext(connection) as few:
        viewer.get(LIST)
    assert dict(MigrationBundle.objects.values_list("migration_name", "synced_at")) == synced

    for number in range(3, 8):
        project.add(
            f"000{number}_more",
            [migrations.AddField("author", f"extra{number}", models.IntegerField(null=True))],
        )
    viewer.get(LIST)
    with CaptureQueriesContext(connection) as many:
        page = viewer.get(LIST)
    assert len(rows(page.content.decode())) == 7
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_an_unreadable_bundle_or_root_is_said_not_a_failure(project, viewer, settings) -> None:
    project.add("0002_risky", RISKY)
    viewer.get(LIST)
    (project.path("0002_risky") / "bundle.json").write_text("{not json")
    page = viewer.get(LIST)
    assert page.status_code == 200
    text = page.content.decode()
    assert "0002_risky" in rows(text)  # kept: its files are still there
    assert "bundle.json is not valid JSON" in text

    not_a_directory = project.root.parent / "a-file"
    not_a_directory.write_text("")
    settings.MIGRATION_STUDIO = {**settings.MIGRATION_STUDIO, "BUNDLE_ROOT": not_a_directory}
    page = viewer.get(LIST)
    assert page.status_code == 200
    assert f"The bundle directory {not_a_directory} cannot be read" in page.content.decode()


def test_filters_and_search(project, viewer) -> None:
    project.add("0002_risky", RISKY)
    project.add("0003_safe", SAFE)
    assert validate("0002_risky") == 0
    risk = MigrationBundle.objects.get(migration_name="0002_risky").risk

    def listed(query: str) -> set[str]:
        page = viewer.get(LIST + query)
        assert page.status_code == 200
        return set(rows(page.content.decode()))

    assert listed(f"?risk={risk}") == {"0002_risky"}
    assert listed("?validation=passed") == {"0002_risky"}
    assert listed("?validation=never") == {"0001_initial", "0003_safe"}
    assert listed("?validation=pending") == {"0001_initial", "0003_safe"}
    assert listed("?approval=none") == {"0001_initial", "0002_risky", "0003_safe"}
    assert listed("?q=safe") == {"0003_safe"}
    assert listed(f"?app_label={APP}&q=000") == {"0001_initial", "0002_risky", "0003_safe"}
    up = project.path("0003_safe") / "up.sql"
    up.write_text(up.read_text() + "-- edited\n")
    assert listed("?stale__exact=1") == {"0003_safe"}


# -- the detail page ----------------------------------------------------------------------------


def test_the_detail_page_shows_sql_both_ways_findings_documents_and_runs(
    project, viewer, vendor
) -> None:
    path = project.add("0002_risky", RISKY)
    assert validate("0002_risky") == 0
    viewer.get(LIST)
    page = viewer.get(detail_url("0002_risky"))
    assert page.status_code == 200
    html = page.content.decode()

    bundle = json.loads((path / "bundle.json").read_text())
    sections = re.findall(r'<section class="ms-operation".*?</section>', html, re.S)
    assert len(sections) == len(bundle["operations"]) == 2
    # The index: CREATE INDEX forward, DROP INDEX backward, highlighted (keywords in spans).
    index_op = sections[0]
    forward = index_op.split('class="ms-sql ms-sql-reverse"')[0]
    reverse_side = index_op.split('class="ms-sql ms-sql-reverse"')[1]
    assert re.search(r'<span class="k">CREATE</span>', forward)
    assert "book_isbn_idx" in forward and "DROP" not in forward
    assert (
        re.search(r'<span class="k">DROP</span>', reverse_side) and "book_isbn_idx" in reverse_side
    )

    report = json.loads((path / "report.json").read_text())
    findings = re.search(r'<table class="ms-table ms-findings">.*?</table>', html, re.S).group(0)
    for finding in report["findings"]:
        assert finding["rule"] in findings
        rule_url = reverse("admin:migration_studio_rule", args=[finding["rule"]])
        assert f'href="{rule_url}"' in findings
    assert viewer.get(rule_url).status_code == 200
    assert viewer.get(reverse("admin:migration_studio_rule", args=["MS999"])).status_code == 404

    # README and rollback plan rendered (headings, tables), checks.sql shown.
    assert "<h2>Overview</h2>" in html and "<table" in html.split('id="documents"')[1]
    assert "Validation checks for roundtrip.0002_risky" in html

    # The validation run: steps, and the statements' timeline.
    run = re.search(r'<section class="ms-run" data-status="passed">.*?</section>', html, re.S)
    assert run, "no passing run shown"
    assert "<svg" in run.group(0) and 'class="ms-timeline"' in run.group(0)
    statements = sum(len(step["statements"]) for step in ValidationRun.objects.get().steps)
    assert run.group(0).count('class="ms-bar"') == statements > 0
    if vendor == "postgresql":
        # The index build takes SHARE on the table (and ACCESS EXCLUSIVE on the new index, which
        # blocks no one): the picture shows the table's lock; ADD COLUMN takes ACCESS EXCLUSIVE.
        up = run.group(0).split('data-step="up"')[1].split("</g>")[0]
        assert re.findall(r'data-lock="(\w+)"', up)[1:3] == ["Share", "AccessExclusive"]
        assert "locks not recorded" in run.group(0).split('data-step="down"')[1]
    else:
        assert 'data-lock="unknown"' in run.group(0) and 'data-lock="Share"' not in run.group(0)


def test_older_runs_link_to_their_own_page_with_the_timeline(project, viewer) -> None:
    project.add("0002_risky", RISKY)
    assert validate("0002_risky") == 0
    assert validate("0002_risky") == 0  # validatemigration validates again when named
    viewer.get(LIST)
    html = viewer.get(detail_url("0002_risky")).content.decode()
    older = ValidationRun.objects.order_by("started_at").first()
    link = reverse("admin:migration_studio_validationrun", args=[older.bundle_id, older.pk])
    assert f'href="{link}"' in html
    page = viewer.get(link)
    assert page.status_code == 200 and 'class="ms-timeline"' in page.content.decode()
    other = reverse("admin:migration_studio_validationrun", args=[older.bundle_id, 10**6])
    assert viewer.get(other).status_code == 404


# -- approvals ------------------------------------------------------------------------------------


def approve(client: Client, name: str, comment: str = "", content: str | None = None):
    record = MigrationBundle.objects.get(migration_name=name)
    if content is None:
        form = client.get(detail_url(name)).content.decode()
        content = re.search(r'name="content_sha256" value="([0-9a-f]+)"', form).group(1)
    return client.post(
        reverse("admin:migration_studio_approve", args=[record.pk]),
        {"comment": comment, "content_sha256": content},
    )


def test_an_approval_records_who_when_and_what_and_goes_stale_when_the_content_changes(
    project, approver, viewer
) -> None:
    path = project.add("0002_risky", RISKY)
    approver.get(LIST)
    response = approve(approver, "0002_risky", "index is small, fine")
    assert response.status_code == 302
    approval = Approval.objects.get()
    record = MigrationBundle.objects.get(migration_name="0002_risky")
    assert (approval.approved_by, approval.comment) == ("approver", "index is small, fine")
    assert approval.content_sha256 == record.content_sha256 != ""
    listed = rows(viewer.get(LIST).content.decode())
    assert attribute(listed["0002_risky"], "ms-approval-state", "data-state") == "approved"
    html = viewer.get(detail_url("0002_risky")).content.decode()
    assert re.search(r'<li data-current="yes"><strong>approver</strong>', html)

    # The page was opened, then the files changed: that approval is refused.
    form = approver.get(detail_url("0002_risky")).content.decode()
    seen = re.search(r'name="content_sha256" value="([0-9a-f]+)"', form).group(1)
    add_own_check(path, "no book without isbn", "SELECT * FROM roundtrip_book WHERE isbn = ''")
    listed = rows(viewer.get(LIST).content.decode())
    assert attribute(listed["0002_risky"], "ms-approval-state", "data-state") == "stale"
    assert "ms-stale" not in listed["0002_risky"]  # checks.sql is the reviewer's to edit
    approve(approver, "0002_risky", "again", content=seen)
    assert Approval.objects.count() == 1
    html = viewer.get(detail_url("0002_risky")).content.decode()
    assert re.search(r'<li data-current="no"><strong>approver</strong>', html)

    # A re-sync, even after the record is gone and back, never deletes approvals.
    shutil.move(path, project.root / "moved-away")
    viewer.get(LIST)
    assert not MigrationBundle.objects.filter(migration_name="0002_risky").exists()
    shutil.move(project.root / "moved-away", path)
    viewer.get(LIST)
    assert Approval.objects.count() == 1
    approve(approver, "0002_risky", "again, with the new check")
    assert Approval.objects.count() == 2
    listed = rows(viewer.get(LIST).content.decode())
    assert attribute(listed["0002_risky"], "ms-approval-state", "data-state") == "approved"
    assert set(rows(viewer.get(LIST + "?approval=approved").content.decode())) == {"0002_risky"}


# -- permissions, CSRF, escaping, confinement -----------------------------------------------------


def test_permissions(project) -> None:
    project.add("0002_risky", RISKY)
    anonymous = Client()
    response = anonymous.get(LIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

    not_staff = user("visitor", "view_migrationbundle", staff=False)
    assert not_staff.get(LIST).status_code == 302
    staff = user("staff")
    assert staff.get(LIST).status_code == 403
    assert staff.get(OVERVIEW).status_code == 403
    assert staff.get(reverse("admin:migration_studio_rule", args=["MS131"])).status_code == 403

    viewer = user("viewer", "view_migrationbundle")
    assert viewer.get(LIST).status_code == 200
    record = MigrationBundle.objects.get(migration_name="0002_risky")
    assert staff.get(detail_url("0002_risky")).status_code == 403
    html = viewer.get(detail_url("0002_risky")).content.decode()
    assert 'id="ms-approve"' not in html
    response = viewer.post(
        reverse("admin:migration_studio_approve", args=[record.pk]),
        {"content_sha256": record.content_sha256},
    )
    assert response.status_code == 403 and not Approval.objects.exists()
    assert "resync" not in viewer.get(LIST).content.decode()  # actions need "change"
    MigrationBundle.objects.filter(pk=record.pk).update(risk="critical")
    viewer.post(LIST, {"action": "resync", "_selected_action": [record.pk]})
    assert MigrationBundle.objects.get(pk=record.pk).risk == "critical"  # not re-read
    assert (
        viewer.get(reverse("admin:migration_studio_approve", args=[record.pk])).status_code == 405
    )

    approver = user("approver", "view_migrationbundle", "approve_migrationbundle")
    assert 'id="ms-approve"' in approver.get(detail_url("0002_risky")).content.decode()
    # No one adds or deletes records by hand: they mirror the files.
    superuser = User.objects.create_superuser("root", password=PASSWORD)
    admin = Client()
    admin.force_login(superuser)
    assert admin.get(reverse("admin:migration_studio_migrationbundle_add")).status_code == 403
    delete = reverse("admin:migration_studio_migrationbundle_delete", args=[record.pk])
    assert admin.get(delete).status_code == 403


def test_posts_need_the_csrf_token(project) -> None:
    project.add("0002_risky", RISKY)
    account = User.objects.create_superuser("root", password=PASSWORD)
    client = Client(enforce_csrf_checks=True)
    client.force_login(account)
    client.get(LIST)
    record = MigrationBundle.objects.get(migration_name="0002_risky")
    response = client.post(
        reverse("admin:migration_studio_approve", args=[record.pk]),
        {"content_sha256": record.content_sha256},
    )
    assert response.status_code == 403 and not Approval.objects.exists()
    response = client.post(LIST, {"action": "validate", "_selected_action": [record.pk]})
    assert response.status_code == 403 and not ValidationRun.objects.exists()


def test_bundle_text_is_escaped_everywhere(project, approver) -> None:
    script = "<script>alert(1)</script>"
    path = project.add(
        "0002_hostile",
        [
            migrations.RunSQL(
                f"SELECT '{script}' AS \"{script}\"",
                f"SELECT '{script}'",
            )
        ],
    )
    with (path / "README.md").open("a") as readme:
        readme.write(
            f"\n## {script}\n\n{script}\n\n| a | {script} |\n| - | - |\n"
            "| [x](javascript:alert(1)) | y |\n"
        )
    add_own_check(path, script, f"SELECT '{script}' WHERE 1 = 0")
    data = json.loads((path / "report.json").read_text())
    data["findings"].append(
        {
            **(data["findings"] or [{}])[0],
            "rule": "MS131",
            "severity": "high",
            "message": script,
            "safe_alternative": script,
            "safe_rewrite": script,
            "tables": [script],
            "operation": 0,
            "direction": "forward",
            "acknowledged": script,
        }
    )
    (path / "report.json").write_text(json.dumps(data))
    approver.get(LIST)
    approve(approver, "0002_hostile", script)
    for page in (LIST, detail_url("0002_hostile"), OVERVIEW):
        html = approver.get(page).content.decode()
        assert "<script>alert" not in html, page
        assert not re.search(r"href=[\"']?\s*javascript", html, re.I), page
    html = approver.get(detail_url("0002_hostile")).content.decode()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 7
    assert "makesafemigration --safe takes it away: &lt;script&gt;" in html


def test_no_file_outside_the_bundle_root_is_read(project, viewer, tmp_path) -> None:
    project.add("0002_risky", RISKY)
    viewer.get(LIST)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(project.path("0002_risky"), elsewhere)
    (elsewhere / "README.md").write_text("# SECRET-OUTSIDE\n")
    record = MigrationBundle.objects.get(migration_name="0002_risky")
    MigrationBundle.objects.filter(pk=record.pk).update(path=str(elsewhere))
    html = viewer.get(detail_url("0002_risky")).content.decode()
    assert "SECRET-OUTSIDE" not in html
    assert "its files are not read" in html

    # A link inside the root that leads out of it is not followed either.
    shutil.rmtree(project.path("0002_risky"))
    project.path("0002_risky").symlink_to(elsewhere, target_is_directory=True)
    MigrationBundle.objects.filter(pk=record.pk).update(path=str(project.path("0002_risky")))
    html = viewer.get(detail_url("0002_risky")).content.decode()
    assert "SECRET-OUTSIDE" not in html


# -- actions ------------------------------------------------------------------------------------


def test_actions_resync_and_validate_for_users_who_may_change(project, maintainer) -> None:
    for number in range(2, 6):
        project.add(
            f"000{number}_more",
            [migrations.AddField("author", f"extra{number}", models.IntegerField(null=True))],
        )
    maintainer.get(LIST)
    records = {r.migration_name: r.pk for r in MigrationBundle.objects.all()}

    # Re-sync: the record follows a file changed without its modification time moving on.
    path = project.path("0002_more")
    report = json.loads((path / "report.json").read_text())
    MigrationBundle.objects.filter(pk=records["0002_more"]).update(risk="critical")
    response = maintainer.post(
        LIST, {"action": "resync", "_selected_action": [records["0002_more"]]}, follow=True
    )
    assert "Re-read 1 bundle(s)" in response.content.decode()
    assert MigrationBundle.objects.get(pk=records["0002_more"]).risk == report["risk"]

    # Validate: bounded, synchronous, with a clear message per bundle.
    too_many = list(records.values())[:4]
    response = maintainer.post(
        LIST, {"action": "validate", "_selected_action": too_many}, follow=True
    )
    assert "Select at most 3 bundles" in response.content.decode()
    assert not ValidationRun.objects.exists()
    add_own_check(
        project.path("0003_more"),
        "an author",
        "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM roundtrip_author)",
    )
    response = maintainer.post(
        LIST,
        {"action": "validate", "_selected_action": [records["0002_more"], records["0003_more"]]},
        follow=True,
    )
    text = response.content.decode()
    assert "0002_more: validation passed." in text
    assert (
        "0003_more: validation FAILED. The data breaks the migration&#x27;s promises: an " in text
    )
    assert json.loads((project.path("0002_more") / "validation.json").read_text())["status"] == (
        "passed"
    )
    assert dict(ValidationRun.objects.values_list("bundle__migration_name", "status")) == {
        "0002_more": "passed",
        "0003_more": "failed",
    }


# -- overview and the release gate's runs ---------------------------------------------------------


def gate_run(database: str, verdicts: dict[str, str]) -> DeploymentCheck:
    result = GateResult(
        database=database,
        vendor=connection.vendor,
        server="127.0.0.1",
        tool_version="test",
        generated_at="2026-01-01T00:00:00+00:00",
        policy={},
        migrations=[
            MigrationVerdict(
                APP,
                name,
                file=f"{name}.py",
                bundle=None,
                risk="high",
                checks=[GateCheck("risk", status, f"{name} says {status}")],
            )
            for name, status in verdicts.items()
        ],
    )
    assert record_gate_run(result) is None
    return DeploymentCheck.objects.first()


def test_overview_and_gate_runs(project, viewer) -> None:
    project.add("0002_risky", RISKY)
    project.add("0003_safe", SAFE)
    assert validate("0003_safe") == 0
    gate_run("live", {"0002_risky": "pass", "0003_safe": "pass"})
    check = gate_run("live", {"0002_risky": "fail"})

    html = viewer.get(OVERVIEW).content.decode()
    high = MigrationBundle.objects.filter(risk__in=("high", "critical")).count()
    assert re.search(r'id="ms-bundles">3<', html)
    assert re.search(r'id="ms-pending">2<', html)  # 0001 and 0002 never validated
    assert re.search(r'id="ms-failed">0<', html)
    assert re.search(rf'id="ms-unapproved">{high}<', html)
    assert re.search(r'id="ms-stale">0<', html)
    assert html.count('class="ms-badge ms-verdict-fail"') == 1
    up = project.path("0003_safe") / "up.sql"
    up.write_text(up.read_text() + "-- edited\n")
    html = viewer.get(OVERVIEW).content.decode()
    assert re.search(r'id="ms-pending">3<', html)  # 0003 was proven as it was before
    assert re.search(r'id="ms-stale">1<', html)

    listed = rows(viewer.get(LIST).content.decode())
    assert 'ms-verdict-fail">fail<' in listed["0002_risky"]  # the last run's verdict
    assert 'ms-verdict-pass">pass<' in listed["0003_safe"]
    assert GateVerdict.objects.count() == 3

    page = viewer.get(reverse("admin:migration_studio_deploymentcheck_change", args=[check.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "0002_risky says fail" in text
    assert detail_url("0002_risky") in text
    app_index = viewer.get(reverse("admin:app_list", args=["migration_studio"]))
    assert OVERVIEW in app_index.content.decode()


def test_the_gate_verdicts_of_earlier_runs_are_kept_by_the_upgrade(admin_tables) -> None:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("migration_studio", "0003_approval")])
    try:
        old = (
            MigrationExecutor(connection)
            .loader.project_state(("migration_studio", "0003_approval"))
            .apps
        )
        Check = old.get_model("migration_studio", "DeploymentCheck")
        Check.objects.create(
            database="live",
            server="s",
            vendor="sqlite",
            tool_version="0",
            verdict="fail",
            passed=False,
            plan=["shop.0005_x"],
            result={"migrations": [{"app_label": "shop", "name": "0005_x", "status": "fail"}]},
        )
    finally:
        MigrationExecutor(connection).migrate([("migration_studio", "0004_review")])
    verdict = GateVerdict.objects.get()
    assert (verdict.app_label, verdict.migration_name, verdict.status) == ("shop", "0005_x", "fail")


def test_the_sha256_of_a_bundle_in_the_list_is_its_content_hash(project, viewer) -> None:
    path = project.add("0002_risky", RISKY)
    viewer.get(LIST)
    record = MigrationBundle.objects.get(migration_name="0002_risky")
    from migration_studio.validation.result import content_hash

    assert record.content_sha256 == content_hash(path)
    assert record.up_sha256 == sha256((path / "up.sql").read_text())
