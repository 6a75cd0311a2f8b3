"""The commands on a realistic project: a custom user model, foreign keys to it, data steps with
odd callables, a squashed history, and (on PostgreSQL) ``django.contrib.postgres`` installed.

The project (tests/projects/realistic) is copied to a temporary directory and driven through its
own ``manage.py`` in fresh processes, as a user does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import migrations, models

from migration_studio.bundle.store import load_bundle
from migration_studio.capture.plan import plan_new_migrations
from migration_studio.exceptions import GraphError

from .conftest import REPO, migration_source

PROJECT = Path(__file__).resolve().parent / "projects" / "realistic"
REPLACED = ["0002_book_slug", "0003_fill_slugs", "0004_loan"]
SQUASH = "0002_book_slug_squashed_0004_loan"


class Project:
    """A private copy of the realistic project, run with ``python manage.py``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bundles = root / "bundles"
        self.data = root / "data"
        self.data.mkdir()
        #: The project's own database (default: the test run's server, or a SQLite file).
        self.database_url: str | None = None

    def environment(self) -> dict[str, str]:
        url = (
            self.database_url
            or os.environ.get("DATABASE_URL")
            or f"sqlite:///{self.data}/project.sqlite3"
        )
        return {
            **os.environ,
            "DATABASE_URL": url,
            "PROJECT_DATA": str(self.data),
            "PYTHONPATH": os.pathsep.join([str(self.root), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": "site_config.settings",
        }

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def manage(
        self, *args: str, check: bool = True, answers: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``manage.py``; ``answers``: what is typed to its questions (its standard input)."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.environment(),
            input=answers,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def bundle(self, app: str, name: str):
        return load_bundle(self.bundles / app / name)

    def bundled(self, app: str) -> list[str]:
        return sorted(p.name for p in (self.bundles / app).iterdir())


def copy_project(directory: Path) -> Project:
    root = directory / "realistic"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__", "bundles"))
    return Project(root)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return copy_project(tmp_path)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A copy with every migration of both apps bundled (tests only read it or add to it)."""
    project = copy_project(tmp_path_factory.mktemp("bundled"))
    project.manage("bundlemigration", "accounts")
    project.manage("bundlemigration", "library")
    return project


def test_a_foreign_key_to_the_custom_user_model_is_bundled(project: Project) -> None:
    dry = project.manage("makesafemigration", "library", "--dry-run")
    assert "0006_book_reviewed_by" in dry.stdout
    assert not (project.root / "library" / "migrations" / "0006_book_reviewed_by.py").exists()

    project.manage("makesafemigration", "library")
    written = (project.root / "library" / "migrations" / "0006_book_reviewed_by.py").read_text()
    assert "migrations.swappable_dependency(settings.AUTH_USER_MODEL)" in written
    bundle = project.bundle("library", "0006_book_reviewed_by")
    assert ["accounts", "__first__"] in bundle.dependencies
    up = (project.bundles / "library" / "0006_book_reviewed_by" / "up.sql").read_text()
    assert "accounts_user" in up and "reviewed_by_id" in up
    # The migration Django writes is the one the bundle describes: migrate agrees with it.
    project.manage("makemigrations", "--check", "--dry-run")


def test_a_new_project_with_a_custom_user_model_bundles_and_validates(project: Project) -> None:
    for app in ("accounts", "library"):
        for path in (project.root / app / "migrations").glob("0*.py"):
            path.unlink()
    project.manage("makesafemigration", "accounts")
    project.manage("makesafemigration", "library")
    assert project.bundled("accounts") == ["0001_initial"]
    assert project.bundled("library") == ["0001_initial"]
    result = project.manage("validatemigration")
    assert "accounts.0001_initial: passed" in result.stdout
    assert "library.0001_initial: passed" in result.stdout


def test_a_squashed_history_is_bundled_both_ways(bundled: Project) -> None:
    project = bundled
    # The squashed graph (a new database) and the migrations it replaces (a database with some of
    # them applied) are both deployed somewhere: every migration on disk gets its bundle.
    assert project.bundled("library") == sorted(
        ["0001_initial", SQUASH, *REPLACED, "0005_book_isbn"]
    )
    assert project.bundle("library", SQUASH).replaces == [["library", n] for n in REPLACED]
    assert project.bundle("library", "0004_loan").replaces == []
    # Each replaced migration starts from its own parent, not from the squash.
    assert project.bundle("library", "0003_fill_slugs").dependencies == [
        ["library", "0002_book_slug"]
    ]
    # Bundling the whole app ran each data step once: the seed step's reverse is a no-op and its
    # rows have a unique name, so running it twice would have failed.
    again = project.manage("bundlemigration", "library")
    assert "Every migration of 'library' has a bundle." in again.stdout


def test_a_replaced_migration_can_be_named(project: Project) -> None:
    project.manage("bundlemigration", "library", "0003")
    assert project.bundled("library") == ["0003_fill_slugs"]
    assert project.bundle("library", "0003_fill_slugs").dependencies == [
        ["library", "0002_book_slug"]
    ]
    missing = project.manage("bundlemigration", "library", "0009", check=False)
    assert missing.returncode == 1
    assert "Cannot find a migration matching '0009' from app 'library'." in missing.stderr


def test_data_steps_with_any_callable_are_described(bundled: Project) -> None:
    project = bundled
    reasons = [op.reason for op in project.bundle("library", "0003_fill_slugs").operations]
    assert "partial(library.data.fill_slugs, separator='-')" in reasons[0]
    assert "library.data.SeedShelves instance" in reasons[1]
    assert "<lambda>" in reasons[2]
    up = (project.bundles / "library" / "0003_fill_slugs" / "up.sql").read_text()
    assert "partial(library.data.fill_slugs" in up


def test_validation_follows_the_squash(bundled: Project) -> None:
    project = bundled
    result = project.manage("validatemigration", "library", SQUASH, check=False)
    assert "does not exist any more" not in result.stdout + result.stderr
    # The seed step's reverse is a no-op: after the rollback its rows are still there, so applying
    # the squash again fails; migrate does the same, and the result says so.
    assert result.returncode == 1
    assert "redeploy   FAILED" in result.stdout
    assert "Operation 3 (Raw Python operation) has a no-op reverse" in result.stderr
    assert "fails the same way under manage.py migrate" in result.stderr
    replaced = project.manage("validatemigration", "library", "0004_loan")
    assert "library.0004_loan: passed" in replaced.stdout


def test_contrib_postgres_installed(bundled: Project, vendor: str) -> None:
    if vendor != "postgresql":
        pytest.skip("django.contrib.postgres is installed on PostgreSQL only")
    # Its connection_created handler looks every connection's alias up: server-level connections
    # must not break it.
    apps = bundled.manage(
        "shell", "-c", "from django.conf import settings; print(settings.INSTALLED_APPS)"
    )
    assert "django.contrib.postgres" in apps.stdout
    assert bundled.bundled("accounts") == ["0001_initial"]
    assert bundled.bundle("accounts", "0001_initial").vendor == "postgresql"


def test_two_runs_at_once_on_the_same_project(project: Project) -> None:
    """Two developers (or CI jobs) bundling the same app on one server and one checkout."""
    runs = [project.start("bundlemigration", "library") for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, out + err
        assert "Traceback" not in err
    everything = ["0001_initial", SQUASH, *REPLACED, "0005_book_isbn"]
    assert project.bundled("library") == sorted(everything)
    for name in everything:
        assert project.bundle("library", name).migration_name == name
    assert not [p for p in (project.bundles / "library").iterdir() if p.name.startswith(".")]


# -- in-process cases ---------------------------------------------------------------------------


def test_a_migration_written_by_another_run_meanwhile_is_a_clear_error(shop: Path) -> None:
    # Another run wrote 0004 after this run's autodetector looked: the plan finds it on disk.
    clash = migrations.Migration("0004_orderitem_constraints", "shop")
    with pytest.raises(GraphError, match="appeared on disk while this run was detecting changes"):
        plan_new_migrations({"shop": [clash]})


ENUM_STEPS = [
    migrations.RunSQL("CREATE TYPE roundtrip_mood AS ENUM ('calm')", "DROP TYPE roundtrip_mood"),
    migrations.RunSQL("ALTER TYPE roundtrip_mood ADD VALUE 'happy'", migrations.RunSQL.noop),
    migrations.RunSQL(
        "CREATE TABLE roundtrip_feeling (mood roundtrip_mood DEFAULT 'happy')",
        "DROP TABLE roundtrip_feeling",
    ),
]


def test_an_enum_value_added_by_one_migration_and_used_by_the_next(
    packages, bundle_root: Path, vendor: str
) -> None:
    if vendor != "postgresql":
        pytest.skip("PostgreSQL enum types")
    app = "roundtrip"
    files, previous = {}, []
    for number, step in enumerate(ENUM_STEPS, start=1):
        name = f"000{number}_step"
        files[name] = migration_source(app, name, [step], previous)
        previous = [(app, name)]
    packages.create(app, files)
    # Twice: the second run starts from cached states, used in place inside one transaction.
    for _ in range(2):
        shutil.rmtree(bundle_root, ignore_errors=True)
        call_command("bundlemigration", app, verbosity=0)
        assert sorted(p.name for p in (bundle_root / app).iterdir()) == list(files)
    up = (bundle_root / app / "0003_step" / "up.sql").read_text()
    assert "DEFAULT 'happy'" in up


def broken_data_step(apps, schema_editor):
    raise ValueError("the data step has a bug")


def null_into_not_null(apps, schema_editor):
    apps.get_model("roundtrip", "Author").objects.create(name=None)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (broken_data_step, "ValueError: the data step has a bug"),
        # On SQLite Django's schema editor fails next with "An error occurred in the current
        # transaction": the error reported is the one it hides.
        (null_into_not_null, "NOT NULL constraint failed"),
    ],
    ids=["python-error", "database-error"],
)
def test_a_failing_data_step_is_one_clear_error(packages, bundle_root, step, expected, vendor):
    from .cases import APP, base_operations

    if vendor == "postgresql" and step is null_into_not_null:
        expected = 'null value in column "name"'
    change = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=50, db_index=True)),
        migrations.RunPython(step, migrations.RunPython.noop),
    ]
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_change": migration_source(APP, "0002_change", change, [(APP, "0001_initial")]),
        },
    )
    with pytest.raises(CommandError) as failure:
        call_command("bundlemigration", APP, "0002", verbosity=0)
    message = str(failure.value)
    assert message.startswith(f"Running {APP}.0002_change forwards failed on the scratch")
    assert expected in message
    assert "current transaction" not in message
    assert not (bundle_root / APP / "0002_change").exists()


def count_items(apps, schema_editor):
    apps.get_model("roundtrip", "Item").objects.count()


def test_a_history_with_an_undeclared_dependency_is_captured_as_migrate_applies_it(
    packages, bundle_root, vendor
) -> None:
    """A model moves from shop to roundtrip (state only, as apps that split do); a later shop
    migration depends on neither the move nor anything after it, yet its data step renders every
    model. Built from its dependencies alone, its state points at a model that is gone; ``migrate``
    works because it applies roundtrip's move first, in the order of the whole graph."""
    kind = [
        ("id", models.BigAutoField(primary_key=True)),
        ("name", models.CharField(max_length=20)),
    ]
    shop = {
        "0001_kind": migration_source(
            "shop", "0001_kind", [migrations.CreateModel("Kind", kind)], []
        ),
        "0002_give_kind_away": migration_source(
            "shop",
            "0002_give_kind_away",
            [
                migrations.SeparateDatabaseAndState(
                    state_operations=[migrations.DeleteModel("Kind")]
                )
            ],
            [("shop", "0001_kind")],
        ),
        "0003_count": migration_source(
            "shop",
            "0003_count",
            [migrations.RunPython(count_items, migrations.RunPython.noop)],
            [("shop", "0002_give_kind_away"), ("roundtrip", "0001_item")],
        ),
    }
    item = [
        ("id", models.BigAutoField(primary_key=True)),
        ("kind", models.ForeignKey("shop.kind", on_delete=models.CASCADE)),
    ]
    roundtrip = {
        "0001_item": migration_source(
            "roundtrip",
            "0001_item",
            [migrations.CreateModel("Item", item)],
            [("shop", "0001_kind")],
        ),
        "0002_take_kind": migration_source(
            "roundtrip",
            "0002_take_kind",
            [
                migrations.SeparateDatabaseAndState(
                    state_operations=[
                        migrations.CreateModel("Kind", kind, options={"db_table": "shop_kind"}),
                        migrations.AlterField(
                            "item",
                            "kind",
                            models.ForeignKey("roundtrip.kind", on_delete=models.CASCADE),
                        ),
                    ]
                )
            ],
            [("roundtrip", "0001_item"), ("shop", "0001_kind")],
        ),
    }
    # A non-atomic migration among those migrate applies first (it cannot run in place).
    concurrently = "CONCURRENTLY " if vendor == "postgresql" else ""
    index = migrations.RunSQL(
        f"CREATE INDEX {concurrently}roundtrip_item_kind_cc ON roundtrip_item (kind_id)",
        f"DROP INDEX {concurrently}roundtrip_item_kind_cc",
    )
    roundtrip["0003_index"] = migration_source(
        "roundtrip", "0003_index", [index], [("roundtrip", "0002_take_kind")]
    ).replace(
        "class Migration(migrations.Migration):\n",
        "class Migration(migrations.Migration):\n    atomic = False\n",
    )
    packages.create("shop", shop)
    packages.create("roundtrip", roundtrip)
    # Twice: the second run starts from cached states, used in place where it can.
    for _ in range(2):
        shutil.rmtree(bundle_root, ignore_errors=True)
        call_command("bundlemigration", "shop", verbosity=0)
        assert sorted(p.name for p in (bundle_root / "shop").iterdir()) == sorted(shop)
    shutil.rmtree(bundle_root)
    call_command("bundlemigration", "shop", "0003", verbosity=0)
    assert (bundle_root / "shop" / "0003_count" / "bundle.json").exists()
    out = StringIO()
    call_command("validatemigration", "shop", "0003", stdout=out, no_color=True)
    assert "shop.0003_count: passed" in out.getvalue()


def seed_tag(apps, schema_editor):
    apps.get_model("roundtrip", "Tag").objects.create(id=1, name="seed")


def keep_everything(apps, schema_editor):
    """A reverse that leaves the seeded row (wagtail's initial data does the same)."""


def test_a_reverse_that_leaves_rows_is_explained_on_redeploy(packages, bundle_root) -> None:
    from .cases import APP, base_operations

    change = [migrations.RunPython(seed_tag, keep_everything)]
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            "0002_seed": migration_source(APP, "0002_seed", change, [(APP, "0001_initial")]),
        },
    )
    call_command("bundlemigration", APP, "0002", verbosity=0)
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_status:
        call_command("validatemigration", APP, "0002", stdout=out, stderr=err, no_color=True)
    assert exit_status.value.code == 1
    assert "redeploy   FAILED" in out.getvalue()
    assert (
        "Operation 1 (Raw Python operation) runs again after its reverse "
        "(tests.test_real_projects.keep_everything), which left what its first run wrote after "
        "the rollback, so applying the migration again fails the same way under manage.py migrate"
    ) in err.getvalue()


def author_and_book(apps, schema_editor):
    author = apps.get_model("roundtrip", "Author").objects.create(name="A")
    apps.get_model("roundtrip", "Book").objects.create(
        title="T", isbn="1", pages=1, author_id=author.pk
    )


def test_a_table_altered_after_a_data_step_wrote_to_it(packages, bundle_root, vendor) -> None:
    """PostgreSQL checks foreign keys at commit: until then ALTER TABLE on the table refuses
    ("pending trigger events"). ``migrate`` commits each migration; so must the capture."""
    if vendor != "postgresql":
        pytest.skip("PostgreSQL's deferred foreign key checks")
    from .cases import APP, base_operations

    files = {
        "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
        "0002_data": migration_source(
            APP,
            "0002_data",
            [migrations.RunPython(author_and_book, migrations.RunPython.noop)],
            [(APP, "0001_initial")],
        ),
        "0003_subtitle": migration_source(
            APP,
            "0003_subtitle",
            [migrations.AddField("book", "subtitle", models.TextField(null=True))],
            [(APP, "0002_data")],
        ),
    }
    packages.create(APP, files)
    # Twice: the second run starts from cached states, used in place inside one transaction.
    for _ in range(2):
        shutil.rmtree(bundle_root, ignore_errors=True)
        call_command("bundlemigration", APP, verbosity=0)
        assert sorted(p.name for p in (bundle_root / APP).iterdir()) == list(files)


def test_a_redeploy_after_constraints_came_back_renamed_is_explained(
    packages, bundle_root, vendor
) -> None:
    """Django's rollback recreates a unique constraint under another name; up.sql drops it by
    the name it had when captured, so the SQL files cannot run again after their rollback."""
    if vendor != "postgresql":
        pytest.skip("PostgreSQL names inline UNIQUE constraints itself")
    from .cases import APP

    code = [
        ("id", models.BigAutoField(primary_key=True)),
        ("code", models.CharField(max_length=9, unique=True)),
    ]
    files = {
        "0001_initial": migration_source(
            APP, "0001_initial", [migrations.CreateModel("Voucher", code)], []
        ),
        "0002_not_unique": migration_source(
            APP,
            "0002_not_unique",
            [migrations.AlterField("voucher", "code", models.CharField(max_length=9))],
            [(APP, "0001_initial")],
        ),
    }
    packages.create(APP, files)
    call_command("bundlemigration", APP, "0002", verbosity=0)
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit):
        call_command("validatemigration", APP, "0002", stdout=out, stderr=err, no_color=True)
    assert "down       ok" in out.getvalue()
    assert "redeploy   FAILED" in out.getvalue()
    assert "roundtrip_voucher_code_key" in err.getvalue()
    assert "the SQL files cannot be applied again after their own rollback" in err.getvalue()
