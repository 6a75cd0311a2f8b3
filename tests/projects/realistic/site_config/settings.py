"""Settings of the realistic test project.

``DATABASE_URL`` selects the server (SQLite files in ``PROJECT_DATA`` by default).
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PROJECT_DATA", tempfile.gettempdir()))
SECRET_KEY = "realistic-test-project"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "migration_studio",
    "accounts",
    "library",
]
AUTH_USER_MODEL = "accounts.User"


def database(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parts.path}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


URL = os.environ.get("DATABASE_URL", f"sqlite:///{DATA}/realistic.sqlite3")
DATABASES = {"default": database(URL)}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    INSTALLED_APPS.append("django.contrib.postgres")

MIGRATION_STUDIO = {
    "BUNDLE_ROOT": Path(os.environ.get("MIGRATION_STUDIO_BUNDLE_ROOT", BASE_DIR / "bundles")),
    "CACHE_DIR": DATA / "realistic_cache",
}
