"""Example Django project used to demonstrate migration_studio."""
