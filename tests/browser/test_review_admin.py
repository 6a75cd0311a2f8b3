"""The admin review pages in a real browser (Chromium): what a reviewer sees and does.

The bundles are real: the round-trip app's history is written to a temporary package, bundled by
``bundlemigration`` and validated by ``validatemigration`` as a team would: ``0001`` never
validated, ``0002`` (two columns and an index, the riskiest) passing, ``0003`` (a data step)
failing a check the reviewers added to its ``checks.sql``.
"""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import migrations, models

from migration_studio.models import Approval
from migration_studio.validation.result import content_hash

from ..cases import APP, base_operations
from ..conftest import migration_source
from .conftest import log_in

PASSWORD = "a-reviewer-password"
LIST = "/admin/migration_studio/migrationbundle/"
#: A detail page's address (the list's filters follow in its query string).
DETAIL = re.compile(r"/admin/migration_studio/migrationbundle/\d+/change/")
INITIAL, COLUMN, DATA = "0001_initial", "0002_book_subtitle", "0003_author_data"

#: A data step leaving three authors without an email.
AUTHOR_DATA = """
from django.db import migrations


def add_authors(apps, schema_editor):
    Author = apps.get_model("roundtrip", "Author")
    for name in ("a", "b", "c"):
        Author.objects.using(schema_editor.connection.alias).create(name=name, email=None)


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0002_book_subtitle")]
    operations = [migrations.RunPython(add_authors, migrations.RunPython.noop)]
"""
OWN_CHECK = "every author has an email"


def validatemigration(*args: str) -> tuple[int, str]:
    """Run ``validatemigration``; its exit status and its error output."""
    err = StringIO()
    try:
        call_command("validatemigration", *args, stdout=StringIO(), stderr=err, no_color=True)
    except SystemExit as exit_info:
        return int(exit_info.code), err.getvalue()
    return 0, err.getvalue()


@pytest.fixture
def bundles(packages, bundle_root) -> dict[str, Path]:
    """The three bundles, validated as the module says; their directories by migration name."""
    packages.create(
        APP,
        {
            INITIAL: migration_source(APP, INITIAL, base_operations(), []),
            COLUMN: migration_source(
                APP,
                COLUMN,
                [
                    migrations.AddField(
                        "book", "subtitle", models.CharField(max_length=50, null=True)
                    ),
                    # NOT NULL without a database default: the riskiest bundle (old code's inserts).
                    migrations.AddField("book", "rating", models.IntegerField(default=3)),
                    migrations.AddIndex(
                        "book", models.Index(fields=["title", "pages"], name="bk_tp_idx")
                    ),
                ],
                [(APP, INITIAL)],
            ),
            DATA: AUTHOR_DATA,
        },
    )
    call_command("bundlemigration", APP, verbosity=0)
    paths = {name: bundle_root / APP / name for name in (INITIAL, COLUMN, DATA)}
    checks = paths[DATA] / "checks.sql"
    checks.write_text(
        checks.read_text()
        + f'-- check: {OWN_CHECK}\nSELECT * FROM "roundtrip_author" WHERE "email" IS NULL;\n'
    )
    assert validatemigration(APP, COLUMN) == (0, "")
    code, err = validatemigration(APP, DATA)
    assert code == 1 and f"{OWN_CHECK}: 3 violating row(s)" in err, err
    return paths


@pytest.fixture
def reviewer(django_user_model):
    """A superuser: it holds the approve_migrationbundle permission."""
    user = django_user_model.objects.create_superuser("reviewer", "reviewer@example.com", PASSWORD)
    assert user.has_perm("migration_studio.approve_migrationbundle")
    return user


def risk_of(path: Path) -> str:
    return json.loads((path / "report.json").read_text()).get("risk") or "none"


def rows(page) -> dict[str, dict[str, str]]:
    """The bundle list as shown: per migration, its risk, validation and approval states."""
    return page.eval_on_selector_all(
        "#result_list tbody tr",
        """rows => Object.fromEntries(rows.map(row => [
            row.querySelector("th a").textContent.trim(),
            {
                risk: row.querySelector(".ms-badge[data-risk]").dataset.risk,
                validation: row.querySelector(".ms-validation").dataset.status,
                approval: row.querySelector(".ms-approval-state").dataset.state,
            },
        ]))""",
    )


def choose_filter(page, parameter: str, value: str) -> None:
    """Click the filter sidebar's choice, as a reviewer does."""
    page.locator(f'#changelist-filter a[href*="{parameter}={value}"]').first.click()
    page.wait_for_url(f"**{parameter}={value}*")


def test_a_reviewer_logs_into_the_admin(page, screenshot, reviewer) -> None:
    log_in(page, "reviewer", PASSWORD)

    assert "reviewer" in page.locator("#user-tools").inner_text().lower()
    assert screenshot("review-00-admin-index").stat().st_size > 0


def test_a_reviewer_finds_reviews_and_approves_a_bundle(
    page, screenshot, reviewer, bundles
) -> None:
    risks = {name: risk_of(path) for name, path in bundles.items()}
    log_in(page, "reviewer", PASSWORD)
    screenshot("review-01-logged-in")

    # The list: every bundle, with its risk, its last validation and no approval yet.
    page.goto(LIST)
    assert rows(page) == {
        INITIAL: {"risk": risks[INITIAL], "validation": "never", "approval": "none"},
        COLUMN: {"risk": risks[COLUMN], "validation": "passed", "approval": "none"},
        DATA: {"risk": risks[DATA], "validation": "failed", "approval": "none"},
    }
    screenshot("review-02-bundle-list")

    # Filtered by the riskiest bundle's risk: that bundle alone.
    risk = risks[COLUMN]
    assert list(risks.values()).count(risk) == 1, risks
    choose_filter(page, "risk", risk)
    assert list(rows(page)) == [COLUMN]
    screenshot("review-03-filter-risk")

    # Filtered by validation: the bundle that failed, and why when it is opened.
    page.goto(LIST)
    choose_filter(page, "validation", "failed")
    assert list(rows(page)) == [DATA]
    screenshot("review-04-filter-validation-failed")
    page.locator("#result_list tbody tr th a", has_text=DATA).click()
    page.wait_for_url(DETAIL)
    failed_run = page.locator('section.ms-run[data-status="failed"]').first
    assert f"{OWN_CHECK}: 3 violating row(s)" in failed_run.inner_text()
    screenshot("review-05-detail-failed")

    # Searched by migration name.
    page.goto(LIST)
    page.fill("#searchbar", "subtitle")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=subtitle*")
    assert list(rows(page)) == [COLUMN]
    screenshot("review-06-search")

    # The detail: each operation's SQL both ways, the findings, the validation's timeline.
    page.locator("#result_list tbody tr th a", has_text=COLUMN).click()
    page.wait_for_url(DETAIL)
    operations = page.locator("section.ms-operation")
    assert operations.count() == 3
    add_field, add_index = operations.nth(0), operations.nth(2)
    assert "subtitle" in add_field.locator(".ms-sql-forward").inner_text()
    assert "subtitle" in add_field.locator(".ms-sql-reverse").inner_text()
    assert "CREATE INDEX" in add_index.locator(".ms-sql-forward").inner_text()
    assert "DROP INDEX" in add_index.locator(".ms-sql-reverse").inner_text()
    assert page.locator(".ms-sql-forward pre").count() >= 2
    findings = json.loads((bundles[COLUMN] / "report.json").read_text())["findings"]
    findings_text = page.locator("table.ms-findings").inner_text()
    for finding in findings:
        assert finding["rule"] in findings_text
    passed_run = page.locator('section.ms-run[data-status="passed"]').first
    assert passed_run.locator("svg.ms-timeline rect.ms-bar").count() > 0
    screenshot("review-07-detail")

    # Approved with a comment: the approval is the reviewer's, of the content as it is now.
    comment = "The index is built while book is small; fine."
    page.fill('#ms-approve textarea[name="comment"]', comment)
    page.locator("#ms-approve").get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    current = page.locator('ul.ms-approvals li[data-current="yes"]')
    assert current.count() == 1
    assert "reviewer" in current.inner_text() and comment in current.inner_text()
    approval = Approval.objects.get()
    assert (approval.migration_name, approval.approved_by, approval.comment) == (
        COLUMN,
        "reviewer",
        comment,
    )
    assert approval.content_sha256 == content_hash(bundles[COLUMN])
    screenshot("review-08-approved")

    # The list says so, and the approval filter finds it.
    page.goto(LIST)
    choose_filter(page, "approval", "approved")
    assert rows(page) == {
        COLUMN: {"risk": risks[COLUMN], "validation": "passed", "approval": "approved"}
    }
    screenshot("review-09-filter-approved")

    # The overview: what is left to do, each figure leading to the bundles it counts.
    page.goto(f"{LIST}overview/")
    figures = {
        figure: page.locator(f"#ms-{figure}").inner_text()
        for figure in ("bundles", "pending", "failed", "unapproved")
    }
    # 0001 never validated and 0003 failed; the high-risk 0002 is approved now.
    assert figures == {"bundles": "3", "pending": "2", "failed": "1", "unapproved": "0"}
    screenshot("review-10-overview")
    page.locator("a.ms-figure", has=page.locator("#ms-failed")).click()
    page.wait_for_url("**validation=failed*")
    assert list(rows(page)) == [DATA]
