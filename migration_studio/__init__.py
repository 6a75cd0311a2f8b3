"""migration_studio: safe Django migrations for databases with live traffic."""

__version__ = "0.1.0"
