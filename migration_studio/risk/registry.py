"""The rules that run: the built-in ones, less ``DISABLED_RULES``, plus ``RULES`` by dotted path."""

from __future__ import annotations

from django.utils.module_loading import import_string

from .. import conf
from .base import Rule
from .rules import compat, data, indexes, locks, names, rewrites

BUILTIN_RULES: tuple[type[Rule], ...] = (
    locks.AccessExclusiveLock,
    locks.ReferencedTableLock,
    locks.LockTimeoutMissing,
    locks.LocksHeldAcrossMigration,
    locks.SharedRowExclusiveOnBoth,
    rewrites.ColumnTypeRewrite,
    rewrites.VolatileDefaultRewrite,
    rewrites.PrimaryKeyTypeChange,
    rewrites.SQLiteTableRebuild,
    rewrites.SetNotNullScan,
    rewrites.CheckConstraintScan,
    rewrites.ForeignKeyValidationScan,
    rewrites.UniqueConstraintIndex,
    rewrites.NotValidValidatedInOneTransaction,
    indexes.IndexBuiltWithoutConcurrently,
    indexes.IndexDroppedWithoutConcurrently,
    indexes.SQLiteUniqueIndex,
    data.BackfillInTransaction,
    data.RunPythonOperation,
    data.RunSQLOperation,
    data.SchemaAndDataMixed,
    data.IrreversibleOperation,
    data.NonAtomicMigration,
    data.RollbackKeepsData,
    compat.NotNullWithoutDatabaseDefault,
    compat.ColumnDropped,
    compat.TableDropped,
    compat.Renamed,
    compat.CallableDefaultEvaluatedOnce,
    compat.RollbackLosesData,
    compat.RollbackFailsOnData,
    compat.RollbackNarrowsType,
    compat.CheckRejectsOldInserts,
    names.IdentifierTruncated,
)


def rule_classes() -> list[type[Rule]]:
    """Every enabled rule class, built-in first, then the project's own."""
    disabled = set(conf.get("DISABLED_RULES") or ())
    extra = [import_string(path) for path in conf.get("RULES") or ()]
    return [rule for rule in (*BUILTIN_RULES, *extra) if rule.id not in disabled]


def enabled_rules() -> list[Rule]:
    return [rule() for rule in rule_classes()]


def known_rule_ids() -> set[str]:
    """Every rule id a migration may acknowledge: built-in and the project's, disabled included."""
    extra = [import_string(path) for path in conf.get("RULES") or ()]
    return {rule.id for rule in (*BUILTIN_RULES, *extra)}
