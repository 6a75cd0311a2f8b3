"""Settings for the test suite.

DATABASE_URL selects the server (SQLite by default; e.g. postgres://postgres@127.0.0.1:5432/ms_tests).
"""

import os
import tempfile
from pathlib import Path

from example_project.settings import database_from_url

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "migration_studio",
    "example_project.shop",
    "tests.roundtrip",
]

# The admin review pages (tests/test_admin.py, tests/browser/).
ROOT_URLCONF = "tests.urls"
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{tempfile.gettempdir()}/ms_tests.sqlite3")
    )
}

MIGRATION_STUDIO = {
    "BUNDLE_ROOT": Path(tempfile.gettempdir()) / "ms_tests_bundles",
    "CACHE_DIR": Path(tempfile.gettempdir()) / "ms_tests_cache",
}

# A second database on the same server: the source of sampled rows in the validation tests.
DATABASES["sample_source"] = {
    **DATABASES["default"],
    "NAME": (
        f"{DATABASES['default']['NAME']}_source"
        if DATABASES["default"]["ENGINE"].endswith("postgresql")
        else f"{tempfile.gettempdir()}/ms_tests_source.sqlite3"
    ),
}

# The "live" database the release gate judges (predeploycheck), and, on PostgreSQL, the same
# database reached through a role that can only read.
DATABASES["live"] = {
    **DATABASES["default"],
    "NAME": (
        f"{DATABASES['default']['NAME']}_live"
        if DATABASES["default"]["ENGINE"].endswith("postgresql")
        else f"{tempfile.gettempdir()}/ms_tests_live.sqlite3"
    ),
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["live_reader"] = {**DATABASES["live"], "USER": "ms_tests_reader"}

# A database alias nothing listens on, for the "unreachable server" tests.
DATABASES["unreachable"] = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "unreachable",
    "USER": "postgres",
    "HOST": "127.0.0.1",
    "PORT": "9",
    "OPTIONS": {"connect_timeout": 2},
}

# Subprocess tests pass their temporary migration packages through the environment.
if os.environ.get("MS_TEST_MIGRATION_MODULES"):
    import json

    MIGRATION_MODULES = json.loads(os.environ["MS_TEST_MIGRATION_MODULES"])
if os.environ.get("MS_TEST_BUNDLE_ROOT"):
    MIGRATION_STUDIO["BUNDLE_ROOT"] = Path(os.environ["MS_TEST_BUNDLE_ROOT"])

# The admin's stylesheets and scripts, served by the live server of the browser tests
# (tests/browser/), so that their screenshots show the pages as a reviewer sees them.
INSTALLED_APPS.append("django.contrib.staticfiles")
STATIC_URL = "static/"
