"""Django settings for the migration_studio example project.

Environment variables:

* ``SECRET_KEY`` -- overrides the insecure development key.
* ``DATABASE_URL`` -- e.g. ``postgres://postgres@127.0.0.1:5432/example``;
  when unset a SQLite database is used.
* ``EXAMPLE_SQLITE_PATH`` -- path of the SQLite database used when
  ``DATABASE_URL`` is unset.
* ``MIGRATION_STUDIO_BUNDLE_ROOT`` -- overrides ``MIGRATION_STUDIO["BUNDLE_ROOT"]``.
* ``EXAMPLE_WITHOUT_STUDIO`` -- when set (non-empty), ``migration_studio`` is
  left out of ``INSTALLED_APPS`` (handy for running the example project on
  its own, e.g. while regenerating the shop migrations).
"""

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get(
    "SECRET_KEY",
    "django-insecure-example-project-dev-key-do-not-use-in-production",
)

DEBUG = True

ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "migration_studio",
    "example_project.shop",
]

# Escape hatch: run the example project without the migration_studio app.
if os.environ.get("EXAMPLE_WITHOUT_STUDIO"):
    INSTALLED_APPS.remove("migration_studio")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "example_project.wsgi.application"

_URL_ENGINES = {
    "sqlite": "django.db.backends.sqlite3",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
}


def database_from_url(url: str) -> dict[str, Any]:
    """Translate a database URL into a Django ``DATABASES`` entry.

    Supported forms::

        sqlite:///relative/or/absolute/path.sqlite3   (sqlite:////abs/path too)
        sqlite:///:memory:
        postgres://user:pass@host:port/name   (or postgresql://...)
        mysql://user:pass@host:port/name
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        engine = _URL_ENGINES[scheme]
    except KeyError:
        raise ValueError(f"Unsupported database URL scheme: {scheme!r}") from None

    if scheme == "sqlite":
        path = unquote(parts.path)
        # "sqlite:///name" -> "/name"; strip one leading slash so that three
        # slashes mean a relative path and four slashes an absolute one.
        if path.startswith("/"):
            path = path[1:]
        return {"ENGINE": engine, "NAME": path or ":memory:"}

    return {
        "ENGINE": engine,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port) if parts.port else "",
    }


_database_url = os.environ.get("DATABASE_URL")
if _database_url:
    DATABASES = {"default": database_from_url(_database_url)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get(
                "EXAMPLE_SQLITE_PATH", str(BASE_DIR / "example_project" / "db.sqlite3")
            ),
        }
    }

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIGRATION_STUDIO = {
    "BUNDLE_ROOT": Path(
        os.environ.get("MIGRATION_STUDIO_BUNDLE_ROOT") or BASE_DIR / "migration_bundles"
    ),
}
