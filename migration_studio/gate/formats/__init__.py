"""The gate's verdict in each output format: ``FORMATS[name](result) -> str``."""

from __future__ import annotations

from collections.abc import Callable

from ..result import GateResult
from .github import github
from .junit import junit
from .markdown import markdown
from .sarif import sarif
from .text import json_text, text

FORMATS: dict[str, Callable[[GateResult], str]] = {
    "text": text,
    "json": json_text,
    "junit": junit,
    "github": github,
    "sarif": sarif,
    "markdown": markdown,
}
