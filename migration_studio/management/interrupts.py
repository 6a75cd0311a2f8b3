"""Ctrl-C (and SIGTERM while a scratch database is open) for the commands: one sentence, exit 130.

Scratch databases are dropped by the context managers that create them, whatever ends the run; this
module only reports it. It watches which scratch databases and cached states the run connected to
(Django's ``connection_created`` signal), and after an interrupt says what was cleaned up, checks
that those scratch databases are really gone, and adds what the command says it wrote.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import OutputWrapper
from django.db.backends.signals import connection_created

from ..scratch.database import CACHE_PREFIX, SCRATCH_PREFIX, leftover_scratch_databases

#: The exit status of a process ended by Ctrl-C, as shells report it (128 + SIGINT).
EXIT_INTERRUPTED = 130


class InterruptibleCommand:
    """Mixin for management commands: an interrupt prints one sentence and exits with 130.

    Commands override :meth:`written_on_interrupt` to say what they had written. With
    ``--traceback``, the interrupt's traceback is shown as for any other error.
    """

    def written_on_interrupt(self) -> str:
        """What the command had written when interrupted, as a clause ("nothing was written")."""
        return "nothing was written"

    def run_from_argv(self, argv: list[str]) -> None:
        opened: dict[str, str] = {}  # database name -> alias

        def watch(sender: Any, connection: Any, **kwargs: Any) -> None:
            name = Path(str(connection.settings_dict.get("NAME") or "")).name
            if name.startswith((SCRATCH_PREFIX, CACHE_PREFIX)):
                opened[str(connection.settings_dict["NAME"])] = connection.alias

        connection_created.connect(watch, weak=False)
        try:
            super().run_from_argv(argv)  # type: ignore[misc]
        except KeyboardInterrupt:
            if "--traceback" in argv:
                raise
            stderr = getattr(self, "stderr", None) or OutputWrapper(sys.stderr)
            stderr.write(self._interrupted_sentence(opened))
            sys.exit(EXIT_INTERRUPTED)
        finally:
            connection_created.disconnect(watch)

    def _interrupted_sentence(self, opened: dict[str, str]) -> str:
        scratch = {n: a for n, a in opened.items() if Path(n).name.startswith(SCRATCH_PREFIX)}
        parts = []
        if scratch:
            left = _still_there(scratch)
            if left:
                return (
                    f"Interrupted; the scratch database(s) {', '.join(left)} could not be "
                    f"dropped: drop them by hand; {self.written_on_interrupt()}."
                )
            parts.append(
                "scratch database dropped" if len(scratch) == 1 else "scratch databases dropped"
            )
        if len(scratch) < len(opened):
            parts.append("changes to the cached state rolled back")
        parts.append(self.written_on_interrupt())
        return f"Interrupted; {'; '.join(parts)}."


def _still_there(scratch: dict[str, str]) -> list[str]:
    """The scratch databases among ``scratch`` that still exist (checked on their servers)."""
    present: set[str] = set()
    for alias in set(scratch.values()):
        with contextlib.suppress(Exception):  # a server gone away cannot be asked; say nothing
            present.update(leftover_scratch_databases(alias))
    return sorted(name for name in scratch if name in present)
