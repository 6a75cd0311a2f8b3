"""How fast are the admin review pages, and does the bundle list's query count stay constant?

Targets (server time: the request handled in-process by Django's test client, template rendering
included, no network):

* the bundle list with 1,000 bundles, opened again with nothing changed: under 200 ms (median);
* the page of a bundle of 50 operations with 20 validation runs: under 200 ms (median);
* the list's query count with 1,000 bundles equals the count with 10.

The 50-operation migration is bundled (captured) and validated for real on the database; its run
is recorded 20 times (the validation is the same each time, so it runs once). The 1,000 bundles
are copies of a real bundle under other migration names (their migration files do not exist, so
they are listed as stale; the list reads and shows them all the same).

Each database runs in a process of its own (Django is configured once per process):

    .venv/bin/python benchmarks/admin_pages.py --backend both
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import harness
from harness import BenchmarkError, Column, Target

LIST_BUNDLES = 1_000
OPERATIONS = 50
RUNS = 20
TARGET_SECONDS = 0.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_backend_and_run_options(
        parser, check_help="exit 1 when a page is slower than 200 ms or the query count grows"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.repeat)
    return harness.run_main(
        lambda: harness.run_on_targets(args, "ms_admin_bench_", run_target, summary, above)
    )


# -- the parent: one process per database ---------------------------------------------------------


def run_target(target: Target, args: Any) -> dict[str, Any]:
    print(f"== {target.label}")
    with harness.Cleanup() as cleanup:
        url = target.url
        if target.backend == "postgresql":
            server = harness.PostgresServer(url)
            name = url.rsplit("/", 1)[1]
            server.create_database(name)
            cleanup.callback(server.drop_database, name)
        process = subprocess.run(
            [sys.executable, __file__, "--worker", url, "--repeat", str(max(args.repeat, 5))],
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
        )
        if args.verbose or process.returncode:
            print(textwrap.indent(process.stderr, "   "), file=sys.stderr)
        if process.returncode:
            raise BenchmarkError(f"the worker failed (exit {process.returncode})")
        result = json.loads(process.stdout.strip().splitlines()[-1])
    result["backend"] = target.label
    return result


def summary(results: list[dict[str, Any]], failures: dict[str, str]) -> None:
    columns = [
        Column("database"),
        Column("page"),
        Column("first (ms)", ">"),
        Column("median (ms)", ">"),
        Column("queries", ">"),
        Column("target", ">"),
    ]
    rows = []
    for r in results:
        rows += [
            [
                r["backend"],
                f"list, {r['bundles']} bundles",
                f"{r['list_first'] * 1000:.0f}",
                f"{r['list_median'] * 1000:.0f}",
                f"{r['list_queries']} (10 bundles: {r['list_queries_small']})",
                "< 200 ms",
            ],
            [
                r["backend"],
                f"detail, {r['operations']} ops, {r['runs']} runs",
                f"{r['detail_first'] * 1000:.0f}",
                f"{r['detail_median'] * 1000:.0f}",
                str(r["detail_queries"]),
                "< 200 ms",
            ],
        ]
    print()
    print("\n".join(harness.format_table(columns, rows)))
    for backend, why in failures.items():
        print(f"   {backend}: FAILED: {why}")


def above(result: dict[str, Any]) -> bool:
    return (
        result["list_median"] >= TARGET_SECONDS
        or result["detail_median"] >= TARGET_SECONDS
        or result["list_queries"] != result["list_queries_small"]
    )


# -- the worker: a configured Django in this process ----------------------------------------------


def worker(url: str, repeat: int) -> int:
    with harness.temporary_directory("ms_admin_bench_") as tmp:
        configure(url, tmp)
        result = measure(tmp, repeat)
        print(json.dumps(result))
    return 0


def configure(url: str, tmp: Path) -> None:
    write_app(tmp)
    sys.path.insert(0, str(tmp))
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="benchmark",
        USE_TZ=True,
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "migration_studio",
            "benchapp",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF="benchurls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={"default": harness.django_database(url, tmp)},
        MIGRATION_STUDIO={"BUNDLE_ROOT": tmp / "bundles", "CACHE_DIR": tmp / "cache"},
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()


def write_app(tmp: Path) -> None:
    """``benchapp``: a table, then a migration of 50 operations on it."""
    app = tmp / "benchapp"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    fields = "\n".join(
        f"    f{i} = models.{kind}" for i, kind in enumerate(field_kinds(), start=1)
    )
    (app / "models.py").write_text(
        "from django.db import models\n\n\nclass Item(models.Model):\n"
        "    name = models.CharField(max_length=100)\n" + fields + "\n"
    )
    (app / "migrations" / "0001_initial.py").write_text(
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n    initial = True\n    dependencies = []\n"
        "    operations = [migrations.CreateModel('Item', [\n"
        "        ('id', models.BigAutoField(primary_key=True)),\n"
        "        ('name', models.CharField(max_length=100)),\n    ])]\n"
    )
    operations = "\n".join(
        f"        migrations.AddField('item', 'f{i}', models.{kind})," for i, kind in
        enumerate(field_kinds(), start=1)
    )
    (app / "migrations" / "0002_fifty.py").write_text(
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('benchapp', '0001_initial')]\n"
        f"    operations = [\n{operations}\n    ]\n"
    )
    (tmp / "benchurls.py").write_text(
        "from django.contrib import admin\nfrom django.urls import path\n\n"
        "urlpatterns = [path('admin/', admin.site.urls)]\n"
    )


def field_kinds() -> list[str]:
    kinds = [
        "CharField(max_length=50, null=True)",
        "IntegerField(default=0)",
        "CharField(max_length=20, db_index=True, default='')",
        "DecimalField(max_digits=8, decimal_places=2, null=True)",
        "BooleanField(default=False)",
    ]
    return [kinds[i % len(kinds)] for i in range(OPERATIONS)]


def measure(tmp: Path, repeat: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse

    from migration_studio.models import MigrationBundle, ValidationRun

    setup_test_environment()
    call_command("migrate", verbosity=0)
    call_command("bundlemigration", "benchapp", verbosity=0)
    code = 0
    try:
        call_command("validatemigration", "benchapp", "0002_fifty", verbosity=0)
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    if code:
        raise SystemExit(f"the 50-operation bundle did not validate (exit {code})")
    root = tmp / "bundles"
    superuser = User.objects.create_superuser("bench", password="bench")
    client = Client()
    client.force_login(superuser)
    changelist = reverse("admin:migration_studio_migrationbundle_changelist")

    def timed(url: str) -> tuple[float, int]:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        return seconds, len(queries)

    copy_bundles(root, 10)
    timed(changelist)
    _, small_queries = timed(changelist)

    copy_bundles(root, LIST_BUNDLES - 2 - 10)  # with the two real ones: 1,000
    list_first, _ = timed(changelist)
    list_times, list_queries = [], 0
    for _ in range(repeat * 2):
        seconds, list_queries = timed(changelist)
        list_times.append(seconds)
    bundles = MigrationBundle.objects.count()

    record = MigrationBundle.objects.get(app_label="benchapp", migration_name="0002_fifty")
    run = ValidationRun.objects.get(bundle=record)
    for number in range(1, RUNS):
        run.pk = None
        run.started_at -= datetime.timedelta(hours=number)
        run.finished_at -= datetime.timedelta(hours=number)
        run.save()
    detail = reverse("admin:migration_studio_migrationbundle_change", args=[record.pk])
    detail_first, _ = timed(detail)
    detail_times, detail_queries = [], 0
    for _ in range(repeat * 2):
        seconds, detail_queries = timed(detail)
        detail_times.append(seconds)
    print(
        f"list: {harness.seconds_list(list_times, 3)} s; "
        f"detail: {harness.seconds_list(detail_times, 3)} s",
        file=sys.stderr,
    )
    return {
        "bundles": bundles,
        "list_first": list_first,
        "list_median": harness.median(list_times),
        "list_queries": list_queries,
        "list_queries_small": small_queries,
        "operations": record.operations,
        "runs": record.validations.count(),
        "detail_first": detail_first,
        "detail_median": harness.median(detail_times),
        "detail_queries": detail_queries,
    }


def copy_bundles(root: Path, count: int) -> None:
    """``count`` more bundles: copies of the real 0001 bundle under other names."""
    source = root / "benchapp" / "0001_initial"
    data = json.loads((source / "bundle.json").read_text())
    existing = sum(1 for _ in root.glob("copies*/*/bundle.json"))
    for number in range(existing, existing + count):
        app = f"copies{number // 100:02d}"
        name = f"{number:04d}_copy"
        target = root / app / name
        shutil.copytree(source, target)
        (target / "bundle.json").write_text(
            json.dumps({**data, "app_label": app, "migration_name": name})
        )
    os.sync()


if __name__ == "__main__":
    sys.exit(main())
