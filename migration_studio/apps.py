from django.apps import AppConfig


class MigrationStudioConfig(AppConfig):
    name = "migration_studio"
    verbose_name = "Migration studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks
