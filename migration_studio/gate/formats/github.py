"""GitHub Actions workflow commands: one annotation per failing or warning item, on the migration
file and the line of the operation concerned."""

from __future__ import annotations

from ..result import FAIL, WARN, GateCheck, GateResult, MigrationVerdict


def github(result: GateResult) -> str:
    lines = []
    for migration, check in result.all_checks():
        if check.status not in (FAIL, WARN):
            continue
        lines.append(_command(migration, check))
    summary = "passes" if result.passed else "fails"
    lines.append(
        f"::notice title=predeploycheck::The release gate {summary} "
        f"({len(result.migrations)} migration(s) to apply)."
    )
    return "\n".join(lines) + "\n"


def _command(migration: MigrationVerdict | None, check: GateCheck) -> str:
    level = "error" if check.status == FAIL else "warning"
    title = f"{migration.label}: {check.name}" if migration else check.name
    if check.rule:
        title += f" {check.rule}"
    properties = [f"title={_property(title)}"]
    if migration is not None:
        properties.insert(0, f"file={_property(migration.file)}")
        properties.insert(1, f"line={check.line or 1}")
    return f"::{level} {','.join(properties)}::{_data(check.message)}"


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")
