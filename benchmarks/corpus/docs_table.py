"""Print the figures of docs/corpus.rst from the runner's JSON reports (reStructuredText).

    python benchmarks/corpus/docs_table.py results/sqlite.json results/postgresql.json

The first report is the SQLite column group, the second the PostgreSQL one; apps missing from a
report (PostgreSQL-only apps on SQLite) get a dash.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cell_bundled(app: dict) -> str:
    extra = app["bundled_one_by_one"]
    return f"{app['bundled']} + {extra}" if extra else str(app["bundled"])


def table(sqlite: dict, postgresql: dict) -> list[str]:
    by_app = {"sqlite": {a["app"]: a for a in sqlite["apps"]}}
    by_app["postgresql"] = {a["app"]: a for a in postgresql["apps"]}
    order = [a["app"] for a in postgresql["apps"]]
    order += [a for a in by_app["sqlite"] if a not in order]
    rows = []
    for name in order:
        app = by_app["postgresql"].get(name) or by_app["sqlite"][name]
        files = str(app["files"])
        row = [f"``{name}``", app["package"], files]
        for vendor in ("sqlite", "postgresql"):
            result = by_app[vendor].get(name)
            if result is None:
                row += ["-", "-", "-"]
            else:
                row += [cell_bundled(result), str(result["validated"]), str(result["failed"])]
        rows.append(row)
    totals = []
    for report in (sqlite, postgresql):
        t = report["totals"]
        bundled = (
            f"{t['bundled']} + {t['bundled_one_by_one']}"
            if t["bundled_one_by_one"]
            else str(t["bundled"])
        )
        totals += [bundled, str(t["validated"]), str(t["failed"])]
    rows.append(
        [
            "**total**",
            f"{postgresql['totals']['apps']} labels",
            str(postgresql["totals"]["files"]),
            *totals,
        ]
    )
    head = [
        "app label",
        "package",
        "files",
        "bundled",
        "valid.",
        "failed",
        "bundled",
        "valid.",
        "failed",
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    rule = "  ".join("=" * w for w in widths)
    group = "  ".join(
        [
            " " * (sum(widths[:3]) + 4),
            "SQLite".ljust(sum(widths[3:6]) + 4),
            "PostgreSQL",
        ]
    ).rstrip()
    dashes = "  ".join(
        [
            "-" * widths[0],
            "-" * widths[1],
            "-" * widths[2],
            "-" * (sum(widths[3:6]) + 4),
            "-" * (sum(widths[6:9]) + 4),
        ]
    )

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [rule, group, dashes, line(head), rule, *(line(r) for r in rows), rule]


def categories(sqlite: dict, postgresql: dict) -> list[str]:
    names = list(
        dict.fromkeys([*sqlite["failures_by_category"], *postgresql["failures_by_category"]])
    )
    rows = [
        [
            f"``{n}``",
            str(len(sqlite["failures_by_category"].get(n, []))),
            str(len(postgresql["failures_by_category"].get(n, []))),
        ]
        for n in names
    ]
    head = ["category", "SQLite", "PostgreSQL"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    rule = "  ".join("=" * w for w in widths)

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [rule, line(head), rule, *(line(r) for r in rows), rule]


def main() -> None:
    sqlite, postgresql = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    print("\n".join(table(sqlite, postgresql)))
    print()
    print("\n".join(categories(sqlite, postgresql)))


if __name__ == "__main__":
    main()
