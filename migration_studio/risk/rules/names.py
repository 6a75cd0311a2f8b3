"""Names: identifiers the server changes behind the migration's back."""

from __future__ import annotations

from collections.abc import Iterable

from ...sql.reader import POSTGRESQL_MAX_IDENTIFIER, long_identifiers, truncated_identifier
from ..base import Finding, Rule, Severity
from ..context import OperationContext


class IdentifierTruncated(Rule):
    id = "MS158"
    title = "Identifier longer than 63 bytes is cut by PostgreSQL"
    severity = Severity.MEDIUM
    backends = ("postgresql",)
    directions = ("forward", "reverse")
    example = (
        'ALTER TABLE "shop_order" ADD COLUMN '
        '"delivery_instructions_for_the_courier_when_nobody_is_at_home_to_sign" text NULL;'
    )
    safe_alternative = (
        "Give the table, column, index or constraint a name of at most 63 bytes (db_table, "
        "db_column, name=...), so the name in the database is the name in the code."
    )

    def check(self, context: OperationContext) -> Iterable[Finding]:
        for statement in context.statements:
            names = long_identifiers(statement.sql)
            if not names:
                continue
            cut = ", ".join(f"{name} becomes {truncated_identifier(name)}" for name in names)
            yield self.finding(
                context,
                f"PostgreSQL cuts identifiers to {POSTGRESQL_MAX_IDENTIFIER} bytes without an "
                f"error: {cut}. Later SQL that uses the full name does not find it, and two long "
                "names with the same beginning collide.",
                statements=[statement.sql],
                tables=[statement.table] if statement.table else [],
            )
