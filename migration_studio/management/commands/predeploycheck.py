"""The release gate: is what ``migrate`` would apply on a database fit to deploy?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...exceptions import MigrationStudioError
from ...files import write_text_atomic
from ...gate.apply import APPLIED, FAILED, ROLLED_BACK, ApplySettings, apply_plan
from ...gate.formats import FORMATS
from ...gate.policy import SEVERITIES, policy
from ...gate.record import record
from ...gate.run import check_plan
from ..base import StudioCommand
from ..options import add_database, add_no_cache


class Command(StudioCommand, BaseCommand):
    help = (
        "Checks the migrations migrate would apply on a database before a release: bundles "
        "fresh and validated, risk on the live table sizes within the policy, live data keeping "
        "the migrations' promises, no session the migrations would queue behind. Read-only. "
        "Exit status 0: pass; 1: the gate says no; 2: usage or environment error."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("app_label", nargs="?", help="Check the plan of this app only.")
        parser.add_argument(
            "migration_name", nargs="?", help="Check the plan up to this migration (as migrate)."
        )
        add_database(
            parser, help='The database to check, read-only. Defaults to the "default" database.'
        )
        parser.add_argument(
            "--scratch-database",
            metavar="ALIAS",
            help="Where a scratch database may be created to compare the live schema with its "
            'applied migrations (default: the "default" database, unless it is the target).',
        )
        add_no_cache(parser)
        parser.add_argument(
            "--format", choices=sorted(FORMATS), default="text", help="Output format (text)."
        )
        parser.add_argument(
            "-o", "--output", help="Write the output to this file (atomically) instead of stdout."
        )
        policy_options = parser.add_argument_group(
            "policy", 'Override MIGRATION_STUDIO["GATE"] for this run'
        )
        policy_options.add_argument(
            "--max-risk", choices=SEVERITIES, help="Highest deploying risk without acknowledgement."
        )
        policy_options.add_argument(
            "--include-rollback-risk",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Count the rollback's findings (down.sql) toward --max-risk too.",
        )
        policy_options.add_argument(
            "--block-rule",
            action="append",
            dest="block_rules",
            metavar="RULE_ID",
            help="A rule id that blocks the release whenever found (repeatable).",
        )
        policy_options.add_argument(
            "--unbundled-app",
            action="append",
            dest="unbundled_apps",
            metavar="APP_LABEL",
            help="An app whose migrations may deploy without a bundle (repeatable).",
        )
        policy_options.add_argument(
            "--approval-required-above",
            choices=SEVERITIES,
            metavar="RISK",
            help="A bundle riskier than this needs a reviewer's approval of its content.",
        )
        policy_options.add_argument(
            "--require-validation",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Require a passing validatemigration of each bundle.",
        )
        policy_options.add_argument(
            "--lock-budget",
            type=_seconds,
            metavar="SECONDS",
            help="Fail when a table would be blocked longer than this on the live sizes.",
        )
        policy_options.add_argument(
            "--drift-blocks",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="A live schema that differs from its applied migrations blocks the release.",
        )
        policy_options.add_argument(
            "--long-transaction",
            type=_seconds,
            metavar="SECONDS",
            help="A session holding a conflicting lock in a transaction this old blocks.",
        )
        policy_options.add_argument(
            "--lock-timeout", type=_seconds, metavar="SECONDS", help="For the gate's own queries."
        )
        apply_options = parser.add_argument_group(
            "apply", "Apply the plan when the gate says yes (the database is then written)"
        )
        apply_options.add_argument(
            "--apply",
            action="store_true",
            help="Apply the plan, guarded: lock and statement timeouts, retries, post-checks, "
            "and an automatic rollback to the state before the run when something fails.",
        )
        apply_options.add_argument(
            "--override",
            metavar="REASON",
            help="With --apply: apply even though the gate says no; the reason is recorded.",
        )
        apply_options.add_argument(
            "--apply-lock-timeout",
            type=_seconds,
            metavar="SECONDS",
            help="Lock timeout of every statement applied (default 0.5).",
        )
        apply_options.add_argument(
            "--apply-statement-timeout",
            type=_seconds,
            metavar="SECONDS",
            help="Statement timeout of every statement applied (default 300).",
        )
        apply_options.add_argument(
            "--attempts",
            type=_attempts,
            metavar="N",
            help="Attempts of a migration (or non-atomic statement) that waits for a lock (5).",
        )
        apply_options.add_argument(
            "--backoff",
            type=_seconds,
            metavar="SECONDS",
            help="First pause between attempts, doubled each time (default 1).",
        )
        policy_options.add_argument(
            "--statement-timeout",
            type=_seconds,
            metavar="SECONDS",
            help="For the gate's own queries.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        gate = policy(
            MAX_RISK=options["max_risk"],
            INCLUDE_ROLLBACK_RISK=options["include_rollback_risk"],
            BLOCKING_RULES=options["block_rules"],
            UNBUNDLED_APPS=options["unbundled_apps"],
            APPROVAL_REQUIRED_ABOVE=options["approval_required_above"],
            REQUIRE_VALIDATION=options["require_validation"],
            LOCK_BUDGET_SECONDS=options["lock_budget"],
            DRIFT_BLOCKS=options["drift_blocks"],
            LONG_TRANSACTION_SECONDS=options["long_transaction"],
            LOCK_TIMEOUT=options["lock_timeout"],
            STATEMENT_TIMEOUT=options["statement_timeout"],
            APPLY_LOCK_TIMEOUT=options["apply_lock_timeout"],
            APPLY_STATEMENT_TIMEOUT=options["apply_statement_timeout"],
            APPLY_ATTEMPTS=options["attempts"],
            APPLY_BACKOFF=options["backoff"],
        )
        if options["override"] and not options["apply"]:
            raise CommandError("--override only makes sense with --apply.", returncode=2)
        try:
            result = check_plan(
                options["database"],
                gate,
                app_label=options["app_label"],
                migration_name=options["migration_name"],
                scratch_database=options["scratch_database"],
                use_cache=options["use_cache"],
            )
        except MigrationStudioError as error:
            raise CommandError(str(error), returncode=2) from None
        if options["apply"] and (result.passed or options["override"]):
            if not result.passed:
                result.override = options["override"]
            report = apply_plan(
                options["database"],
                [(m.app_label, m.name) for m in result.migrations],
                {
                    (m.app_label, m.name): Path(m.bundle) / "checks.sql"
                    for m in result.migrations
                    if m.bundle
                },
                ApplySettings(
                    lock_timeout=gate.apply_lock_timeout,
                    statement_timeout=gate.apply_statement_timeout,
                    attempts=gate.apply_attempts,
                    backoff=gate.apply_backoff,
                ),
                log=self._log if options["verbosity"] >= 1 else lambda line: None,
            )
            result.apply = report.to_dict()
        problem = record(result)
        if problem:
            self.warn(problem)
        output = FORMATS[options["format"]](result)
        if options["output"]:
            path = Path(options["output"])
            try:
                write_text_atomic(path, output)
            except OSError as error:
                raise CommandError(
                    f"Cannot write {path}: {error.strerror}.", returncode=2
                ) from None
            if options["verbosity"] >= 1:
                self.stdout.write(FORMATS["text"](result), ending="")
        else:
            self.stdout.write(output, ending="")
        if result.apply is not None:
            sys.exit(EXIT_APPLY[result.apply["outcome"]])
        if not result.passed:
            sys.exit(1)  # the gate says no (the output says why); nothing was applied

    def _log(self, line: str) -> None:
        self.stderr.write(line)


#: Exit status of --apply by outcome: applied; failed and rolled back to the state before the run;
#: failed and not (or not entirely) rolled back.
EXIT_APPLY = {APPLIED: 0, ROLLED_BACK: 3, FAILED: 4}


def _attempts(value: str) -> int:
    try:
        attempts = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if attempts < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return attempts


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return seconds
