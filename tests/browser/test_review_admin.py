"""The admin review pages in a real browser (Chromium): what a reviewer sees and does."""

from __future__ import annotations

import pytest

from .conftest import log_in

PASSWORD = "a-reviewer-password"


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_superuser("reviewer", "reviewer@example.com", PASSWORD)


def test_a_reviewer_logs_into_the_admin(page, screenshot, reviewer) -> None:
    log_in(page, "reviewer", PASSWORD)

    assert page.locator("#user-tools").inner_text().upper().startswith("WELCOME,")
    assert "reviewer" in page.locator("#user-tools").inner_text().lower()
    assert screenshot("admin-index").stat().st_size > 0
