"""List, or drop, the cached scratch states and the leftovers of killed runs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ... import conf
from ...scratch.cache import CachedState, cached_states, drop_leftover, drop_state, leftovers
from ...scratch.database import describe_server
from ..base import StudioCommand
from ..options import add_database


class Command(StudioCommand, BaseCommand):
    help = (
        "Lists the cached scratch database states on the server of a database (SQLite: in "
        "CACHE_DIR) and the scratch databases left by runs that were killed; with --clear, drops "
        "this project's cached states (--all-projects: every project's) and with --leftovers "
        "those scratch databases."
    )

    def add_arguments(self, parser: Any) -> None:
        add_database(
            parser, help='The database whose server holds the cached states. Defaults to "default".'
        )
        parser.add_argument(
            "--clear",
            action="store_true",
            help="Drop this project's cached states (they are rebuilt when next needed).",
        )
        parser.add_argument(
            "--all-projects",
            action="store_true",
            help="With --clear, drop the cached states of every project on the server.",
        )
        parser.add_argument(
            "--leftovers",
            action="store_true",
            help="Drop the scratch databases of runs whose process is gone from this machine "
            "and to which nothing is connected.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        if options["all_projects"] and not options["clear"]:
            raise CommandError("--all-projects only goes with --clear.")
        states = cached_states(alias)
        left = leftovers(alias)
        if options["clear"]:
            targets = [s for s in states if options["all_projects"] or s.this_project]
            self._drop_states(alias, targets, options)
        if options["leftovers"]:
            self._drop_leftovers(alias, left, options)
        if not (options["clear"] or options["leftovers"]):
            self._list(alias, states, left, options)

    def _list(self, alias: str, states: list[CachedState], left: list, options: dict) -> None:
        if options["verbosity"] < 1:
            return
        where = describe_server(alias)
        if where.startswith("sqlite"):
            where = f"CACHE_DIR {conf.cache_dir()}"
        if not states:
            self.stdout.write(f"No cached state ({where}).")
        else:
            self.stdout.write(self.style.MIGRATE_HEADING(f"Cached states ({where}):"))
            width = max(len(s.name) for s in states)
            for state in states:
                owner = "this project" if state.this_project else f"project {state.project}"
                used = state.last_used.strftime("%Y-%m-%d %H:%M UTC") if state.last_used else "-"
                self.stdout.write(
                    f"  {state.name:<{width}}  {owner:<16}  {_size(state.size_bytes):>9}  "
                    f"last used {used}"
                )
        if left:
            self.stdout.write(self.style.MIGRATE_HEADING("Left by runs that are gone:"))
            for leftover in left:
                self.stdout.write(
                    f"  {leftover.name}  {_size(leftover.size_bytes):>9}  "
                    f"(process {leftover.pid} is gone)"
                )
            self.stdout.write("Drop them with --leftovers.")

    def _drop_states(self, alias: str, targets: list[CachedState], options: dict) -> None:
        dropped, freed = 0, 0
        for state in targets:
            if drop_state(alias, state.name):
                dropped += 1
                freed += state.size_bytes or 0
            elif options["verbosity"] >= 1:
                self.stderr.write(
                    self.style.WARNING(f"Kept {state.name}: a run is using it right now.")
                )
        if options["verbosity"] >= 1:
            whose = "every project" if options["all_projects"] else "this project"
            self.stdout.write(f"Dropped {dropped} cached state(s) of {whose} ({_size(freed)}).")

    def _drop_leftovers(self, alias: str, left: list, options: dict) -> None:
        dropped = sum(drop_leftover(alias, leftover) for leftover in left)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Dropped {dropped} leftover scratch database(s).")


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} bytes"
