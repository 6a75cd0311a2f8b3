"""A project's own rule, as a user would write one (used by the registry tests)."""

from migration_studio.risk.base import Rule, Severity


class NoTagTable(Rule):
    id = "ACME001"
    title = "The tag table is owned by another team"
    severity = Severity.HIGH
    example = "AlterField('tag', ...)"
    safe_alternative = "Ask the catalogue team."

    def check(self, context):
        if "roundtrip_tag" in (context.facts.table_before, context.facts.table_after):
            yield self.finding(context, "Changes roundtrip_tag.", tables=["roundtrip_tag"])
