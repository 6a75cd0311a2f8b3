from django.apps import AppConfig


class RoundtripConfig(AppConfig):
    """An app whose migrations each test writes into a temporary package (MIGRATION_MODULES)."""

    name = "tests.roundtrip"
    label = "roundtrip"
