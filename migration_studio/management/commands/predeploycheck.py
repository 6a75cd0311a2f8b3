"""The release gate: is what ``migrate`` would apply on a database fit to deploy?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, SystemCheckError

from ...exceptions import MigrationStudioError
from ...files import write_text_atomic
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
        policy_options.add_argument(
            "--statement-timeout",
            type=_seconds,
            metavar="SECONDS",
            help="For the gate's own queries.",
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except SystemCheckError as error:
            error.returncode = 2  # an environment error, never "the gate says no"
            raise

    def handle(self, *args: Any, **options: Any) -> None:
        gate = policy(
            MAX_RISK=options["max_risk"],
            BLOCKING_RULES=options["block_rules"],
            UNBUNDLED_APPS=options["unbundled_apps"],
            REQUIRE_VALIDATION=options["require_validation"],
            LOCK_BUDGET_SECONDS=options["lock_budget"],
            DRIFT_BLOCKS=options["drift_blocks"],
            LONG_TRANSACTION_SECONDS=options["long_transaction"],
            LOCK_TIMEOUT=options["lock_timeout"],
            STATEMENT_TIMEOUT=options["statement_timeout"],
        )
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
        if not result.passed:
            sys.exit(1)  # the gate says no (the output says why)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return seconds
