"""A pull-request comment: the verdict, then a table per migration."""

from __future__ import annotations

from ..result import FAIL, GateCheck, GateResult

ICONS = {"pass": "✅", "skip": "⏭️", "warn": "⚠️", "fail": "❌"}


def markdown(result: GateResult) -> str:
    verdict = "passes" if result.passed else "fails"
    out = [
        f"## Release gate {verdict} {ICONS['pass' if result.passed else 'fail']}",
        "",
        f"{len(result.migrations)} migration(s) to apply on `{result.database}` "
        f"({_cell(result.server)}).",
        "",
    ]
    if result.override:
        out += [f"**Overridden for `--apply`:** {_cell(result.override)}", ""]
    if result.checks:
        out += ["| status | check | result |", "| --- | --- | --- |"]
        out += [_row(check) for check in result.checks]
        out.append("")
    for migration in result.migrations:
        out += [
            f"### {ICONS[migration.status]} `{migration.label}`: deploying risk "
            f"**{migration.risk}**",
            "",
            f"`{migration.file}`" + (f", bundle `{migration.bundle}`" if migration.bundle else ""),
            "",
            "| status | check | result |",
            "| --- | --- | --- |",
        ]
        out += [_row(check) for check in migration.checks if check.status == FAIL]
        out += [_row(check) for check in migration.checks if check.status != FAIL]
        out.append("")
    return "\n".join(out)


def _row(check: GateCheck) -> str:
    name = f"{check.name} {check.rule}" if check.rule else check.name
    if check.rule and check.help_url:
        name = f"{check.name} [{check.rule}]({check.help_url})"
    return f"| {ICONS[check.status]} {check.status} | {name} | {_cell(check.message)} |"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")
