"""Sphinx configuration for the migration_studio documentation."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _read_version() -> str:
    """The package version, parsed from ``migration_studio/__init__.py`` (no Django import)."""
    text = (ROOT / "migration_studio" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("Cannot find __version__ in migration_studio/__init__.py")
    return match.group(1)


project = "migration_studio"
author = "migration_studio contributors"
copyright = "migration_studio contributors"
release = _read_version()
version = ".".join(release.split(".")[:2])

extensions: list[str] = []

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []

pygments_style = "sphinx"
highlight_language = "none"

html_theme = "alabaster"
html_title = f"migration_studio {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Safe Django migrations for databases with live traffic.",
    "fixed_sidebar": True,
}
