"""validatemigration on real databases: good bundles pass, broken ones fail with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections, migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Q

from migration_studio.bundle.model import sha256
from migration_studio.models import ValidationRun
from migration_studio.validation.schema import snapshot

from .cases import APP, base_operations
from .conftest import (
    REPO,
    assert_interrupted,
    interrupted,
    migration_source,
    no_scratch_left,
    slow_migration,
)

CHANGE = "0002_change"


@pytest.fixture
def records():
    """The app's own tables in the default database (validation results are recorded there)."""
    call_command("migrate", "migration_studio", verbosity=0)
    ValidationRun.objects.all().delete()


@pytest.fixture
def bundled(packages, bundle_root, records):
    """Write the app's base migration and ``operations`` as 0002, and bundle both."""

    def bundle(operations=None, *, source: str | None = None) -> Path:
        packages.create(
            APP,
            {
                "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
                CHANGE: source
                or migration_source(APP, CHANGE, operations, [(APP, "0001_initial")]),
            },
        )
        call_command("bundlemigration", APP, "0002", verbosity=0)
        return bundle_root / APP / CHANGE

    return bundle


def validate(*args: str, **options) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("validatemigration", *args, stdout=out, stderr=err, no_color=True, **options)
        code = 0
    except SystemExit as exit_info:
        code = int(exit_info.code)
    return code, out.getvalue(), err.getvalue()


def result_of(path: Path) -> dict:
    return json.loads((path / "validation.json").read_text())


def rehash(path: Path, name: str) -> None:
    """Make bundle.json agree with an edited SQL file (as a bundle generated that way would)."""
    data = json.loads((path / "bundle.json").read_text())
    data["hashes"][name] = sha256((path / name).read_text())
    (path / "bundle.json").write_text(json.dumps(data))


@pytest.fixture
def source(packages):
    """The ``sample_source`` database with the app's tables at 0001 (removed afterwards)."""
    connection = connections["sample_source"]

    def migrate(target):
        MigrationExecutor(connection).migrate([(APP, target)])

    yield migrate
    MigrationExecutor(connection).migrate([(APP, None)])
    connection.close()


def fill(rows: list[str]) -> None:
    with connections["sample_source"].cursor() as cursor:
        for sql in rows:
            cursor.execute(sql)


def test_a_good_bundle_passes_and_is_recorded(bundled, vendor) -> None:
    path = bundled(
        [
            migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True)),
            migrations.AddIndex("book", models.Index(fields=["title", "pages"], name="bk_tp_idx")),
        ]
    )
    code, out, _ = validate(APP, CHANGE, verbosity=2)
    assert code == 0, out
    result = result_of(path)
    assert result["status"] == "passed" and result["schema_diff"] == []
    assert [s["name"] for s in result["steps"]] == [
        "freshness",
        "scratch",
        "precheck",
        "up",
        "checks",
        "down",
        "redeploy",
    ]
    up = next(s for s in result["steps"] if s["name"] == "up")
    assert any('ADD COLUMN "subtitle"' in s["sql"] and s["seconds"] >= 0 for s in up["statements"])
    run = ValidationRun.objects.get()
    assert run.status == "passed" and run.bundle.migration_name == CHANGE
    if vendor == "postgresql":
        locks = {
            (lock["relation"], lock["mode"]) for entry in result["locks"] for lock in entry["locks"]
        }
        assert ("roundtrip_book", "AccessExclusive") in locks
        assert ("roundtrip_book", "Share") in locks  # the index build
    assert no_scratch_left()
    # Already passed as it is: nothing left to validate, unless --all.
    assert validate()[1].strip() == "No bundle to validate."
    assert "Validating roundtrip.0002_change" in validate(all_bundles=True)[1]


def test_down_sql_leaving_something_behind_fails_with_a_diff(bundled) -> None:
    path = bundled(
        [
            migrations.AddIndex("book", models.Index(fields=["title", "pages"], name="bk_tp_idx")),
        ]
    )
    down = (path / "down.sql").read_text()
    (path / "down.sql").write_text(
        "\n".join(line for line in down.splitlines() if "DROP INDEX" not in line) + "\n"
    )
    rehash(path, "down.sql")

    code, _, err = validate(APP, CHANGE)

    assert code == 1
    assert "bk_tp_idx" in err and "left behind" in err
    assert any(
        "bk_tp_idx" in line and "left behind" in line for line in result_of(path)["schema_diff"]
    )
    assert no_scratch_left()


PYTHON_STEP = """
from django.db import migrations


def add_authors(apps, schema_editor):
    Author = apps.get_model("roundtrip", "Author")
    for name in ("a", "b", "c"):
        Author.objects.using(schema_editor.connection.alias).create(name=name, email=None)


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [migrations.RunPython(add_authors, migrations.RunPython.noop)]
"""


def test_a_data_step_violating_a_check_fails_with_the_count(bundled) -> None:
    path = bundled(source=PYTHON_STEP)
    checks = path / "checks.sql"
    checks.write_text(
        checks.read_text() + "\n-- check: every author has an email\n"
        'SELECT * FROM "roundtrip_author" WHERE "email" IS NULL;\n'
    )

    code, _, err = validate(APP, CHANGE)

    assert code == 1
    assert "every author has an email: 3 violating row(s)" in err
    check = next(c for c in result_of(path)["checks"] if c["phase"] == "after up")
    assert check["violations"] == 3 and len(check["sample"]) == 3


def test_sampled_rows_reach_the_scratch_database_and_the_source_is_untouched(
    bundled, source
) -> None:
    path = bundled(
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))]
    )
    source("0001_initial")
    fill(
        [
            "INSERT INTO roundtrip_author (name, email, age) VALUES "
            + ", ".join(f"('a{i}', 'a{i}@x.org', {i})" for i in range(40)),
            "INSERT INTO roundtrip_book (title, isbn, pages, author_id) SELECT 't', 'i', 10, id "
            "FROM roundtrip_author",
        ]
    )
    connection = connections["sample_source"]
    before = snapshot(connection)

    code, out, _ = validate(APP, CHANGE, sample_from="sample_source", sample_rows=25)

    assert code == 0, out
    result = result_of(path)
    assert result["sample_tables"]["roundtrip_author"] == 25
    # Only books whose author was copied keep the foreign key valid.
    assert 0 < result["sample_tables"]["roundtrip_book"] <= 25
    assert snapshot(connection) == before
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM roundtrip_author")
        assert cursor.fetchone()[0] == 40
        cursor.execute("SELECT COUNT(*) FROM roundtrip_book")
        assert cursor.fetchone()[0] == 40


def test_derived_checks_report_each_violation_with_its_count(bundled, source) -> None:
    path = bundled(
        [
            migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True)),
            migrations.AlterField("author", "email", models.CharField(max_length=100)),
            migrations.AlterField(
                "book",
                "pages",
                models.ForeignKey("roundtrip.author", db_column="pages", on_delete=models.CASCADE),
            ),
            migrations.AddConstraint(
                "author", models.CheckConstraint(condition=Q(age__gte=0), name="age_gte_0")
            ),
        ]
    )
    source("0001_initial")
    fill(
        [
            "INSERT INTO roundtrip_author (id, name, email, age) VALUES "
            "(1, 'a', NULL, 1), (2, 'b', NULL, -5), (3, 'c', 'c@x.org', -1), (4, 'd', 'd@x', 0)",
            "INSERT INTO roundtrip_book (title, isbn, pages, author_id) VALUES "
            "('t1', 'dup', 1, 1), ('t2', 'dup', 2, 1), ('t3', 'dup', 999, 2), ('t4', 'ok', 777, 3)",
        ]
    )

    code, _, err = validate(APP, CHANGE, sample_from="sample_source", sample_rows=100)

    assert code == 1, err
    counts = {
        c["description"].rsplit(" (", 1)[0]: c["violations"]
        for c in result_of(path)["checks"]
        if c["phase"] == "before up"
    }
    assert counts["no duplicate (isbn) in roundtrip_book"] == 3  # one isbn, three rows
    assert counts["roundtrip_author.email has no NULL"] == 2
    assert counts["every roundtrip_book.pages exists in roundtrip_author.id"] == 2
    assert counts["every row of roundtrip_author satisfies CHECK age_gte_0"] == 2
    # Reported before up.sql runs (on SQLite the rebuild fills NULL emails, so up.sql decides).
    precheck = next(s for s in result_of(path)["steps"] if s["name"] == "precheck")
    assert "2 violating row(s)" in precheck["detail"]


def test_a_failing_statement_is_reported_with_the_server_error(bundled) -> None:
    path = bundled(
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))]
    )
    up = (path / "up.sql").read_text()
    (path / "up.sql").write_text(
        up.replace("COMMIT;", "SELECT * FROM a_table_that_is_not_there;\nCOMMIT;")
    )
    rehash(path, "up.sql")

    code, _, err = validate(APP, CHANGE)

    assert code == 1
    assert "SELECT * FROM a_table_that_is_not_there;" in err
    assert "a_table_that_is_not_there" in err.splitlines()[-1]
    assert result_of(path)["status"] == "failed"
    assert no_scratch_left()


def test_a_stale_bundle_is_detected(bundled, packages) -> None:
    path = bundled(
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))]
    )
    migration_file = packages.directories[APP] / f"{CHANGE}.py"
    migration_file.write_text(migration_file.read_text() + "\n# edited after bundling\n")

    code, _, err = validate(APP, CHANGE)

    assert code == 1
    assert "Stale bundle, regenerate it" in err and "the migration file" in err
    steps = result_of(path)["steps"]
    assert steps[0]["name"] == "freshness" and steps[0]["status"] == "failed"
    # The other steps did not run, and say so.
    assert [(s["name"], s["status"], s["detail"]) for s in steps[1:]] == [
        (name, "skipped", "not run: the freshness step failed")
        for name in ("scratch", "precheck", "up", "checks", "down", "redeploy")
    ]


def test_usage_errors_exit_with_2(bundled) -> None:
    bundled([migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))])
    assert validate("nope")[0] == 2
    assert validate(APP, "9999")[0] == 2
    code, _, err = validate(APP, CHANGE, sample_from="nowhere")
    assert code == 2 and "There is no database 'nowhere'" in err


SLOW = slow_migration(("roundtrip", "0001_initial"))


def test_interrupt_drops_the_scratch_database(
    bundled, packages, bundle_root, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("MS_TEST_MARKER", str(tmp_path / "never"))  # capture must not wait
    fast = SLOW.replace("time.sleep(60)", "pass")
    path = bundled(source=fast)
    # The bundle is captured with the fast step; validation then runs the slow one.
    migration_file = packages.directories[APP] / f"{CHANGE}.py"
    migration_file.write_text(SLOW)
    rehash_migration = json.loads((path / "bundle.json").read_text())
    rehash_migration["hashes"]["migration"] = sha256(SLOW)
    (path / "bundle.json").write_text(json.dumps(rehash_migration))

    marker = tmp_path / "running"
    env = {
        **os.environ,
        **packages.env(),
        "MS_TEST_MARKER": str(marker),
        "MS_TEST_BUNDLE_ROOT": str(bundle_root),
    }
    process = interrupted(["validatemigration", APP, CHANGE, "--no-cache"], env, marker)
    assert_interrupted(
        process, "Interrupted; scratch database dropped; no validation result was written."
    )
    assert no_scratch_left(pid=process.pid)
    assert not (path / "validation.json").exists()
    # The step Ctrl-C stopped says so, never "ok": the scratch step, whose comparison with
    # migrate's schema runs the migration's Python step through Django.
    steps = step_lines(process.stdout_text)
    assert list(steps)[-1] == "scratch", process.stdout_text
    assert steps["scratch"].split()[1] == "INTERRUPTED", process.stdout_text


def test_records_follow_the_bundle_files(bundled, bundle_root) -> None:
    from migration_studio.models import MigrationBundle

    path = bundled(
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))]
    )
    validate(APP, CHANGE)
    record = MigrationBundle.objects.get(migration_name=CHANGE)
    assert record.reversible and record.risk and record.operations == 1
    assert record.up_sha256 == json.loads((path / "bundle.json").read_text())["hashes"]["up.sql"]
    import shutil

    shutil.rmtree(bundle_root / APP)
    validate()
    assert not MigrationBundle.objects.filter(migration_name=CHANGE).exists()


def test_checks_on_new_columns_wait_for_up_sql(bundled, source) -> None:
    """A new unique column's check cannot run on the parent state (on SQLite an unknown quoted
    name would even read as a string): it runs after up.sql only."""
    path = bundled(
        [
            migrations.AddField(
                "author", "code", models.CharField(max_length=9, null=True, unique=True)
            )
        ]
    )
    source("0001_initial")
    fill(["INSERT INTO roundtrip_author (name, email, age) VALUES ('a', 'a', 1), ('b', 'b', 2)"])
    code, out, _ = validate(APP, CHANGE, sample_from="sample_source")
    assert code == 0, out
    phases = [c["phase"] for c in result_of(path)["checks"]]
    assert phases and set(phases) == {"after up"}


def test_a_backfill_may_fix_what_the_precheck_finds(bundled, source) -> None:
    path = bundled(
        [migrations.AlterField("author", "email", models.CharField(max_length=100, default="-"))]
    )
    source("0001_initial")
    fill(["INSERT INTO roundtrip_author (name, email, age) VALUES ('a', NULL, 1), ('b', 'b', 2)"])
    code, out, _ = validate(APP, CHANGE, sample_from="sample_source")
    assert code == 0, out
    result = result_of(path)
    before = [c for c in result["checks"] if c["phase"] == "before up"]
    after = [c for c in result["checks"] if c["phase"] == "after up"]
    assert before[0]["violations"] == 1 and after[0]["violations"] == 0
    assert "to be fixed by the migration's data steps" in result["steps"][3]["detail"]


def test_a_source_that_cannot_be_sampled_is_an_environment_error(bundled, source) -> None:
    bundled([migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))])
    source("0001_initial")
    with connections["sample_source"].cursor() as cursor:  # a source behind the bundle
        cursor.execute("ALTER TABLE roundtrip_author DROP COLUMN name")
        cursor.execute("INSERT INTO roundtrip_author (email, age) VALUES ('x', 1)")
    try:
        code, _, err = validate(APP, CHANGE, sample_from="sample_source")
    finally:
        with connections["sample_source"].cursor() as cursor:
            cursor.execute("ALTER TABLE roundtrip_author ADD COLUMN name varchar(100) NULL")
    assert code == 2
    assert "Copying sample rows from 'sample_source' failed" in err
    assert no_scratch_left()


PLPGSQL_TRIGGER = '''
from django.db import migrations

FUNCTION = """
CREATE FUNCTION roundtrip_author_email() RETURNS trigger AS $$
BEGIN
  IF NEW.email IS NULL THEN
    NEW.email := NEW.name || '@example.org';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

TRIGGER = """
CREATE TRIGGER roundtrip_author_email BEFORE INSERT ON roundtrip_author
FOR EACH ROW EXECUTE FUNCTION roundtrip_author_email();
"""


def add_author(apps, schema_editor):
    Author = apps.get_model("roundtrip", "Author")
    Author.objects.using(schema_editor.connection.alias).create(name="ann", email=None)


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.RunSQL(
            [FUNCTION, TRIGGER],
            [
                "DROP TRIGGER roundtrip_author_email ON roundtrip_author;",
                "DROP FUNCTION roundtrip_author_email();",
            ],
        ),
        migrations.RunPython(add_author, migrations.RunPython.noop),
    ]
'''


def test_a_plpgsql_function_body_is_one_statement(bundled, vendor) -> None:
    if vendor != "postgresql":
        pytest.skip("plpgsql is PostgreSQL's")
    path = bundled(source=PLPGSQL_TRIGGER)
    checks = path / "checks.sql"
    checks.write_text(
        checks.read_text() + "\n-- check: the function filled the email\n"
        "SELECT * FROM roundtrip_author WHERE email IS DISTINCT FROM name || '@example.org';\n"
    )

    code, out, err = validate(APP, CHANGE)

    assert code == 0, out + err
    result = result_of(path)
    check = next(c for c in result["checks"] if c["description"].startswith("the function"))
    assert check["passed"]
    up = next(s for s in result["steps"] if s["name"] == "up")
    function = next(s["sql"] for s in up["statements"] if "CREATE FUNCTION" in s["sql"])
    assert "NEW.email := NEW.name || '@example.org';" in function
    assert function.rstrip().endswith("$$ LANGUAGE plpgsql;")


ROWS_IN_THEIR_OWN_TRANSACTION = """
from django.db import migrations, models, transaction


def add_tags(apps, schema_editor):
    Tag = apps.get_model("roundtrip", "Tag")
    alias = schema_editor.connection.alias
    with transaction.atomic(using=alias):
        for name in ("a", "b"):
            Tag.objects.using(alias).create(name=name, weight=len(name))


def remove_tags(apps, schema_editor):
    Tag = apps.get_model("roundtrip", "Tag")
    with transaction.atomic(using=schema_editor.connection.alias):
        Tag.objects.using(schema_editor.connection.alias).filter(name__in=("a", "b")).delete()


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.AddField("tag", "weight", models.IntegerField(default=0)),
        migrations.RunPython(add_tags, remove_tags),
    ]
"""


def test_a_runpython_with_its_own_transaction_runs_inside_the_bundle_transaction(
    bundled,
) -> None:
    path = bundled(source=ROWS_IN_THEIR_OWN_TRANSACTION)
    checks = path / "checks.sql"
    checks.write_text(
        checks.read_text() + "\n-- check: both tags were written with their weight\n"
        'SELECT 1 FROM (SELECT COUNT(*) AS n FROM "roundtrip_tag" WHERE "weight" = 1) t '
        "WHERE n <> 2;\n"
    )

    code, out, err = validate(APP, CHANGE)

    assert code == 0, out + err
    result = result_of(path)
    assert [s["status"] for s in result["steps"]][-3:] == ["passed"] * 3
    assert any(c["description"].startswith("both tags") and c["passed"] for c in result["checks"])


SCHEMA_EDITOR_DDL = """
from django.db import migrations


def add_index(apps, schema_editor):
    schema_editor.execute('CREATE INDEX "roundtrip_tag_name_py" ON "roundtrip_tag" ("name")')


def drop_index(apps, schema_editor):
    schema_editor.execute('DROP INDEX "roundtrip_tag_name_py"')


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [migrations.RunPython(add_index, drop_index)]
"""


def test_statements_a_runpython_executes_itself_run_once(bundled) -> None:
    path = bundled(source=SCHEMA_EDITOR_DDL)
    # The capture records them in the operation's section of each file ...
    assert 'CREATE INDEX "roundtrip_tag_name_py"' in (path / "up.sql").read_text()
    assert 'DROP INDEX "roundtrip_tag_name_py"' in (path / "down.sql").read_text()

    code, out, err = validate(APP, CHANGE)

    # ... and the validation runs them once, through the RunPython (a second CREATE INDEX fails).
    assert code == 0, out + err
    for step in result_of(path)["steps"]:
        assert not any("roundtrip_tag_name_py" in s["sql"] for s in step["statements"])


THIRD = "0003_change"


@pytest.fixture
def bundled_third(packages, bundle_root, records):
    """0001, then ``parent`` as 0002, then ``operations`` as 0003; bundle 0003."""

    def bundle(parent: list, operations: list) -> Path:
        packages.create(
            APP,
            {
                "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
                CHANGE: migration_source(APP, CHANGE, parent, [(APP, "0001_initial")]),
                THIRD: migration_source(APP, THIRD, operations, [(APP, CHANGE)]),
            },
        )
        call_command("bundlemigration", APP, THIRD, verbosity=0)
        return bundle_root / APP / THIRD

    return bundle


def test_an_index_left_behind_under_a_constraint_name_fails_the_down_step(
    bundled_third, vendor
) -> None:
    if vendor != "postgresql":
        pytest.skip("SQLite's foreign keys have no name")
    path = bundled_third(
        [
            migrations.RunSQL(
                'ALTER TABLE "roundtrip_note" ADD CONSTRAINT "note_book_ref" '
                'FOREIGN KEY ("book_id") REFERENCES "roundtrip_book" ("id")',
                'ALTER TABLE "roundtrip_note" DROP CONSTRAINT "note_book_ref"',
            )
        ],
        [
            migrations.RunSQL(
                'CREATE INDEX "note_book_ref" ON "roundtrip_note" ("text")',
                migrations.RunSQL.noop,
            )
        ],
    )

    code, _, err = validate(APP, THIRD)

    assert code == 1, err
    assert result_of(path)["schema_diff"] == ["+ roundtrip_note: index note_book_ref (left behind)"]


def test_a_constraint_restored_under_another_name_is_reported_not_failed(bundled_third) -> None:
    """The parent's index has a name of its own; Django's rollback recreates it under the name
    it generates. Same columns, same kind: reported as a name-only difference."""
    path = bundled_third(
        [
            migrations.SeparateDatabaseAndState(
                state_operations=[
                    migrations.AddField(
                        "book", "rank", models.IntegerField(null=True, db_index=True)
                    )
                ],
                database_operations=[
                    migrations.RunSQL(
                        'ALTER TABLE "roundtrip_book" ADD COLUMN "rank" integer NULL'
                    ),
                    migrations.RunSQL(
                        'CREATE INDEX "legacy_rank_idx" ON "roundtrip_book" ("rank")'
                    ),
                ],
            )
        ],
        [migrations.AlterField("book", "rank", models.IntegerField(null=True))],
    )

    code, out, err = validate(APP, THIRD)

    assert code == 0, out + err
    result = result_of(path)
    assert result["schema_diff"] == []
    [renamed] = result["schema_renamed"]
    assert renamed.startswith("= roundtrip_book: index legacy_rank_idx is now roundtrip_book_rank_")
    down = next(s for s in result["steps"] if s["name"] == "down")
    assert down["status"] == "passed" and "under another name" in down["detail"]
    assert "legacy_rank_idx is now" in out  # printed, as a warning


def test_checks_leave_out_a_column_the_migration_removes_later(bundled) -> None:
    path = bundled(
        [
            migrations.AlterField("author", "email", models.CharField(max_length=100, default="-")),
            migrations.AddField("book", "code", models.CharField(max_length=9, default="x")),
            migrations.RemoveField("author", "email"),
            migrations.RemoveField("book", "code"),
        ]
    )
    checks = (path / "checks.sql").read_text()
    assert '"email"' not in checks and '"code"' not in checks
    assert "also before it, on the parent state's data (precheck)" in checks  # the header

    code, out, err = validate(APP, CHANGE)

    assert code == 0, out + err


def test_checks_follow_the_renames_of_later_operations(bundled) -> None:
    path = bundled(
        [
            migrations.AddField("tag", "weight", models.IntegerField(default=0)),
            migrations.AlterField("author", "email", models.CharField(max_length=100, default="-")),
            migrations.RenameField("tag", "weight", "rank"),
            migrations.RenameModel("Tag", "Label"),
            migrations.RenameField("author", "email", "contact"),
        ]
    )
    checks = (path / "checks.sql").read_text()
    assert 'SELECT * FROM "roundtrip_label" WHERE "rank" IS NULL;' in checks
    assert 'SELECT * FROM "roundtrip_author" WHERE "contact" IS NULL;' in checks
    assert '"roundtrip_tag"' not in checks and '"email"' not in checks

    code, out, err = validate(APP, CHANGE)

    assert code == 0, out + err
    after = [c for c in result_of(path)["checks"] if c["phase"] == "after up"]
    assert len(after) == 2 and all(c["passed"] for c in after)


@pytest.fixture
def three_bundles(packages, bundle_root, records):
    """0001, 0002 and 0003 of the app, each bundled."""
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            CHANGE: migration_source(
                APP,
                CHANGE,
                [migrations.AddField("tag", "weight", models.IntegerField(null=True))],
                [(APP, "0001_initial")],
            ),
            THIRD: migration_source(
                APP, THIRD, [migrations.RemoveField("tag", "weight")], [(APP, CHANGE)]
            ),
        },
    )
    call_command("bundlemigration", APP, verbosity=0)
    return bundle_root / APP


def test_a_corrupt_bundle_fails_alone(three_bundles) -> None:
    (three_bundles / CHANGE / "bundle.json").write_text('{"app_label": "roundtrip",,}')
    data = json.loads((three_bundles / THIRD / "bundle.json").read_text())
    del data["vendor"]
    (three_bundles / THIRD / "bundle.json").write_text(json.dumps(data))

    code, out, err = validate(APP)

    assert code == 1
    assert "roundtrip.0001_initial: passed" in out
    assert f"roundtrip.{CHANGE}: FAILED (unreadable bundle)" in out
    assert (
        f"{three_bundles / CHANGE / 'bundle.json'} is not valid JSON (line 1, column 27: "
        "Expecting property name enclosed in double quotes)." in err
    )
    assert (
        f"{three_bundles / THIRD / 'bundle.json'} is not a valid bundle: it has no 'vendor'."
        in (err)
    )
    assert f"manage.py bundlemigration roundtrip {THIRD}" in err
    assert "Traceback" not in err


def test_bundlemigration_writes_a_corrupt_bundle_again(three_bundles) -> None:
    (three_bundles / CHANGE / "bundle.json").write_text("not json")
    out = StringIO()

    call_command("bundlemigration", APP, stdout=out, no_color=True)

    assert "Every migration" not in out.getvalue()
    assert f"{APP}/{CHANGE}" in out.getvalue()  # in the list of the bundles written
    assert json.loads((three_bundles / CHANGE / "bundle.json").read_text())["vendor"]
    assert validate(APP, CHANGE)[0] == 0


IRREVERSIBLE_PYTHON = """
from django.db import migrations, models


def weigh(apps, schema_editor):
    Tag = apps.get_model("roundtrip", "Tag")
    Tag.objects.using(schema_editor.connection.alias).update(weight=1)


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.AddField("tag", "weight", models.IntegerField(null=True)),
        migrations.RunPython(weigh),
    ]
"""


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        pytest.param(
            {
                "operations": [
                    migrations.AddField("tag", "weight", models.IntegerField(null=True)),
                    migrations.RunSQL('UPDATE "roundtrip_tag" SET "weight" = 1'),
                ]
            },
            "operation 2 (RunSQL): RunSQL has no reverse_sql",
            id="RunSQL",
        ),
        pytest.param(
            {"source": IRREVERSIBLE_PYTHON}, "RunPython has no reverse_code", id="RunPython"
        ),
    ],
)
def test_an_irreversible_bundle_skips_the_rollback_with_the_reason(bundled, kwargs, reason) -> None:
    path = bundled(**kwargs)

    code, out, err = validate(APP, CHANGE)

    assert code == 0, out + err
    result = result_of(path)
    assert result["status"] == "passed" and result["schema_diff"] == []
    steps = {s["name"]: s for s in result["steps"]}
    assert steps["up"]["status"] == steps["checks"]["status"] == "passed"
    assert steps["down"]["status"] == steps["redeploy"]["status"] == "skipped"
    assert "the migration is irreversible" in steps["down"]["detail"]
    assert reason in steps["down"]["detail"]
    assert steps["down"]["statements"] == steps["redeploy"]["statements"] == []
    assert "down       skip" in out
    assert (
        f"{APP}.{CHANGE}: passed (up.sql proven; rollback not applicable: the migration is "
        "irreversible)" in out
    )


NOOP_REVERSE = """
from django.db import migrations


def add_author(apps, schema_editor):
    Author = apps.get_model("roundtrip", "Author")
    Author.objects.using(schema_editor.connection.alias).create(id=1, name="first")


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [migrations.RunPython(add_author, migrations.RunPython.noop)]
"""


def test_a_noop_reverse_failing_the_redeploy_says_it_is_the_migrations_own(bundled) -> None:
    path = bundled(source=NOOP_REVERSE)

    code, _, err = validate(APP, CHANGE)

    assert code == 1
    result = result_of(path)
    steps = {s["name"]: s["status"] for s in result["steps"]}
    assert steps["down"] == "passed" and steps["redeploy"] == "failed"
    assert result["schema_diff"] == []  # the row left behind is data, not schema
    assert "Operation 1 (Raw Python operation) failed: IntegrityError" in err
    assert "Operation 1 (Raw Python operation) has a no-op reverse" in err
    assert "fails the same way under manage.py migrate" in result["error"]


def test_up_and_down_edited_together_fail_against_migrate(bundled, vendor) -> None:
    """up.sql and down.sql edited consistently (hashes updated) still pass freshness and the
    rollback; the comparison with manage.py migrate's schema catches them."""
    subtitle = models.CharField(max_length=50, null=True)
    path = bundled([migrations.AddField("book", "subtitle", subtitle)])
    for name in ("up.sql", "down.sql"):
        lines = (path / name).read_text().splitlines()
        (path / name).write_text("\n".join(x for x in lines if "subtitle" not in x) + "\n")
        rehash(path, name)

    code, out, err = validate(APP, CHANGE)

    assert code == 1, out + err
    assert "up.sql does not give the schema manage.py migrate gives" in err
    assert "subtitle" in err
    steps = {s["name"]: s["status"] for s in result_of(path)["steps"]}
    assert steps["freshness"] == "passed" and steps["up"] == "failed"


DEDUPLICATE = """
from django.db import migrations
from django.db.models import Min


def deduplicate(apps, schema_editor):
    Book = apps.get_model("roundtrip", "Book")
    books = Book.objects.using(schema_editor.connection.alias)
    keep = books.values("isbn").annotate(first=Min("id")).values_list("first", flat=True)
    books.exclude(id__in=list(keep)).delete()


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [migrations.RunPython(deduplicate, migrations.RunPython.noop)]
"""


@pytest.fixture
def deduplicated_then_unique(packages, bundle_root, records):
    """0002 removes the books whose isbn another book has; 0003 makes isbn unique. Both bundled."""
    packages.create(
        APP,
        {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            CHANGE: DEDUPLICATE,
            THIRD: migration_source(
                APP,
                THIRD,
                [
                    migrations.AlterField(
                        "book", "isbn", models.CharField(max_length=20, unique=True)
                    )
                ],
                [(APP, CHANGE)],
            ),
        },
    )
    call_command("bundlemigration", APP, verbosity=0)
    return bundle_root / APP


DUPLICATE_BOOKS = [
    "INSERT INTO roundtrip_author (id, name, email, age) VALUES (1, 'a', 'a@x.org', 1)",
    "INSERT INTO roundtrip_book (title, isbn, pages, author_id) VALUES "
    "('t1', 'dup', 1, 1), ('t2', 'dup', 2, 1), ('t3', 'one', 3, 1)",
]


def test_pending_migrations_run_on_the_sample_before_the_precheck(
    deduplicated_then_unique, source
) -> None:
    """The source is at 0001: 0003's precheck sees the rows as 0002 leaves them."""
    source("0001_initial")
    fill(DUPLICATE_BOOKS)

    code, out, err = validate(APP, sample_from="sample_source", all_bundles=True)

    assert code == 0, out + err
    result = result_of(deduplicated_then_unique / THIRD)
    assert [s["name"] for s in result["steps"]][:5] == [
        "freshness",
        "scratch",
        "sample",
        "pending",
        "precheck",
    ]
    pending = result["steps"][3]
    assert pending["status"] == "passed" and f"roundtrip.{CHANGE}" in pending["detail"]
    before = {c["description"]: c for c in result["checks"] if c["phase"] == "before up"}
    assert [c["violations"] for c in before.values()] == [0]
    # 0002 itself starts where the source is: nothing pending.
    assert "pending" not in [
        s["name"] for s in result_of(deduplicated_then_unique / CHANGE)["steps"]
    ]
    with connections["sample_source"].cursor() as cursor:  # the source is only read
        cursor.execute("SELECT COUNT(*) FROM roundtrip_book")
        assert cursor.fetchone()[0] == 3


def test_migrations_applied_on_the_source_are_not_run_again(
    deduplicated_then_unique, source
) -> None:
    """A source that has 0002 applied (and still duplicates): 0003's precheck reports them."""
    source(CHANGE)
    fill(DUPLICATE_BOOKS)

    code, _, err = validate(APP, THIRD, sample_from="sample_source")

    assert code == 1
    assert "no duplicate (isbn) in roundtrip_book" in err and "2 violating row(s)" in err
    assert "pending" not in [
        s["name"] for s in result_of(deduplicated_then_unique / THIRD)["steps"]
    ]


FAILING_ON_ROWS = migration_source(
    APP,
    CHANGE,
    # Fine on the empty tables of the capture; fails on any book (division by zero on
    # PostgreSQL, NULL into a NOT NULL column on SQLite).
    [
        migrations.RunSQL(
            "UPDATE roundtrip_book SET pages = pages / (pages - pages);", migrations.RunSQL.noop
        )
    ],
    [(APP, "0001_initial")],
)


def step_lines(out: str) -> dict[str, str]:
    """The line of each step in the command's output, by step name."""
    return {
        line.split()[0]: line
        for line in out.splitlines()
        if line.startswith("  ") and not line.startswith("   ") and len(line.split()) > 1
    }


def test_a_step_failing_on_the_sampled_rows_is_never_ok(bundled, source) -> None:
    path = bundled(source=FAILING_ON_ROWS)
    source("0001_initial")
    fill(DUPLICATE_BOOKS)

    code, out, err = validate(APP, CHANGE, sample_from="sample_source")

    assert code == 1, out + err
    lines = step_lines(out)
    assert "FAILED" in lines["up"] and " ok " not in lines["up"]
    for name in ("checks", "down", "redeploy"):
        assert "skip" in lines[name] and "not run: the up step failed" in lines[name]
    statuses = {s["name"]: s["status"] for s in result_of(path)["steps"]}
    assert statuses["up"] == "failed"
    assert {statuses[name] for name in ("checks", "down", "redeploy")} == {"skipped"}
    run = ValidationRun.objects.get()
    assert run.status == "failed"
    assert {s["name"]: s["status"] for s in run.steps} == statuses
    assert no_scratch_left()


@pytest.mark.parametrize(
    ("raised", "mark", "detail"),
    [
        (KeyboardInterrupt(), "INTERRUPTED", "interrupted"),
        (RuntimeError("boom"), "FAILED", "RuntimeError: boom"),
    ],
)
def test_an_interrupted_or_crashed_step_is_never_ok(
    bundled, monkeypatch, raised, mark, detail
) -> None:
    from migration_studio.validation.runner import SQLFileRunner

    path = bundled(
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))]
    )

    def stop(*args, **kwargs):
        raise raised

    monkeypatch.setattr(SQLFileRunner, "run", stop)
    out = StringIO()
    with pytest.raises(type(raised)):
        call_command("validatemigration", APP, CHANGE, stdout=out, stderr=StringIO())

    lines = step_lines(out.getvalue())
    assert lines["precheck"].split()[1] == "ok"
    assert lines["up"].split()[1] == mark and lines["up"].endswith(detail), out.getvalue()
    assert "checks" not in lines and f"{CHANGE}: passed" not in out.getvalue()
    assert not (path / "validation.json").exists() and not ValidationRun.objects.exists()
    assert no_scratch_left()


def test_a_check_the_database_rejects_before_up_is_said_not_run(bundled) -> None:
    path = bundled(
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))]
    )
    checks = path / "checks.sql"
    checks.write_text(
        checks.read_text() + "\n-- check: pages are fine\n"
        'SELECT * FROM "roundtrip_book" WHERE no_such_function("pages");\n'
    )

    code, out, err = validate(APP, CHANGE)

    assert code == 1, out + err
    precheck = step_lines(out)["precheck"]
    assert " ok " in precheck and "1 not run, the database rejected them before up" in precheck
    assert "pages are fine" in precheck and "no_such_function" in precheck
    assert "FAILED" in step_lines(out)["checks"] and "pages are fine" in err


def test_a_statement_timeout_fails_the_step(bundled, vendor) -> None:
    if vendor != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    path = bundled(
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))]
    )
    up = (path / "up.sql").read_text()
    (path / "up.sql").write_text(
        up.replace("COMMIT;", "SET LOCAL statement_timeout = 50;\nSELECT pg_sleep(2);\nCOMMIT;")
    )
    rehash(path, "up.sql")

    code, out, err = validate(APP, CHANGE)

    assert code == 1, out + err
    assert step_lines(out)["up"].split()[1] == "FAILED" and "statement timeout" in err
    statuses = [(s["name"], s["status"]) for s in result_of(path)["steps"]]
    assert statuses[-4:] == [
        ("up", "failed"),
        ("checks", "skipped"),
        ("down", "skipped"),
        ("redeploy", "skipped"),
    ]
    assert no_scratch_left()


def test_a_pending_migration_failing_on_the_sampled_rows_fails_the_bundle(
    bundled_third, source
) -> None:
    path = bundled_third(
        [
            migrations.RunSQL(
                "UPDATE roundtrip_book SET pages = pages / (pages - pages);",
                migrations.RunSQL.noop,
            )
        ],
        [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))],
    )
    source("0001_initial")
    fill(DUPLICATE_BOOKS)

    code, out, err = validate(APP, THIRD, sample_from="sample_source")

    assert code == 1, out + err
    assert step_lines(out)["pending"].split()[1] == "FAILED"
    assert f"Migration roundtrip.{CHANGE} failed" in err
    assert "not applied on 'sample_source', run on the sampled rows" in err
    steps = {s["name"]: s for s in result_of(path)["steps"]}
    assert steps["pending"]["status"] == "failed"
    assert steps["precheck"]["detail"] == "not run: the pending step failed"
    assert no_scratch_left()


CRASHING = """
import sys

from django.core.management import execute_from_command_line

from migration_studio.validation.validator import Validator


def crash(self):
    raise ConnectionResetError("the server went away")


Validator.run = crash
execute_from_command_line(["manage.py", "validatemigration", *sys.argv[1:]])
"""


def test_an_unexpected_error_exits_with_2_not_1(bundled, packages, bundle_root) -> None:
    """1 means a bundle failed: an error that is no result of the validation is 2, with its
    traceback."""
    bundled([migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))])
    env = {**os.environ, **packages.env(), "MS_TEST_BUNDLE_ROOT": str(bundle_root)}

    result = subprocess.run(
        [sys.executable, "-c", CRASHING, APP, CHANGE],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" in result.stderr
    assert "ConnectionResetError: the server went away" in result.stderr


#: A RunSQL creating what procrastinate's first migration creates: a type, a table of that type
#: (the model state from ``state_operations``), a function and a trigger calling it.
RUNSQL_OBJECTS = {
    "postgresql": [
        "CREATE TYPE roundtrip_job_status AS ENUM ('todo', 'doing', 'done');",
        "CREATE TABLE roundtrip_job (id bigserial PRIMARY KEY, "
        "status roundtrip_job_status NOT NULL DEFAULT 'todo', "
        "attempts integer NOT NULL DEFAULT 0);",
        "CREATE FUNCTION roundtrip_job_touch() RETURNS trigger AS $$\n"
        "BEGIN\n  NEW.attempts := NEW.attempts + 1;\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;",
        "CREATE TRIGGER roundtrip_job_touch BEFORE UPDATE ON roundtrip_job "
        "FOR EACH ROW EXECUTE FUNCTION roundtrip_job_touch();",
    ],
    "sqlite": [
        "CREATE TABLE roundtrip_job (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, "
        "status varchar(5) NOT NULL DEFAULT 'todo', attempts integer NOT NULL DEFAULT 0);",
        "CREATE TRIGGER roundtrip_job_touch AFTER UPDATE OF status ON roundtrip_job BEGIN "
        "UPDATE roundtrip_job SET attempts = attempts + 1 WHERE id = NEW.id; END;",
    ],
}
RUNSQL_OBJECTS_REVERSE = {
    "postgresql": [
        "DROP TABLE roundtrip_job;",
        "DROP FUNCTION roundtrip_job_touch();",
        "DROP TYPE roundtrip_job_status;",
    ],
    "sqlite": ["DROP TABLE roundtrip_job;"],
}


def runsql_objects(vendor: str) -> list:
    job = migrations.CreateModel(
        "Job",
        [
            ("id", models.BigAutoField(primary_key=True)),
            ("attempts", models.IntegerField(default=0)),
        ],
    )
    return [
        migrations.RunSQL(
            RUNSQL_OBJECTS[vendor], RUNSQL_OBJECTS_REVERSE[vendor], state_operations=[job]
        )
    ]


def step_of(path: Path, name: str) -> dict:
    return next(s for s in result_of(path)["steps"] if s["name"] == name)


def edit_up_sql(path: Path, old: str, new: str) -> None:
    """Edit up.sql alone and update its hash, as a hand-edited bundle would."""
    text = (path / "up.sql").read_text()
    assert old in text
    (path / "up.sql").write_text(text.replace(old, new))
    rehash(path, "up.sql")


def test_a_runsql_migration_is_compared_with_migrate(bundled, vendor) -> None:
    """Its table, of a type the migration creates (PostgreSQL), its function and trigger: up.sql
    gives what migrate gives (the type's new OID at each creation is no difference)."""
    path = bundled(runsql_objects(vendor))

    code, out, err = validate(APP, CHANGE)

    assert code == 0, out + err
    assert step_of(path, "up")["detail"] == "the schema is the one manage.py migrate gives"


@pytest.mark.parametrize(
    ("old", "new", "difference"),
    [
        pytest.param(
            "attempts integer NOT NULL DEFAULT 0",
            "attempts integer NOT NULL DEFAULT 1",
            "~ roundtrip_job: column attempts: default: '0' -> '1'",
            id="table",
        ),
        pytest.param("attempts + 1", "attempts + 2", "roundtrip_job_touch", id="trigger-body"),
    ],
)
def test_a_runsql_migration_whose_up_sql_was_edited_fails_with_a_diff(
    bundled, vendor, old, new, difference
) -> None:
    path = bundled(runsql_objects(vendor))
    edit_up_sql(path, old, new)

    code, out, err = validate(APP, CHANGE)

    assert code == 1, out + err
    assert "up.sql does not give the schema manage.py migrate gives" in err
    error = result_of(path)["error"]
    assert difference in error
    if difference == "roundtrip_job_touch":
        # The function (PostgreSQL) or the trigger (SQLite) holds the body; the diff shows it.
        kind = "function roundtrip_job_touch()" if vendor == "postgresql" else "trigger"
        assert f"~ {kind}" in error and "attempts + 1" in error and "attempts + 2" in error
    assert step_of(path, "up")["status"] == "failed"


def test_an_object_up_sql_leaves_out_fails_with_a_diff(bundled, vendor) -> None:
    path = bundled(runsql_objects(vendor))
    text = (path / "up.sql").read_text()
    trigger = next(s for s in RUNSQL_OBJECTS[vendor] if s.startswith("CREATE TRIGGER"))
    edit_up_sql(path, trigger, "")
    assert "CREATE TRIGGER" not in (path / "up.sql").read_text() != text

    code, out, err = validate(APP, CHANGE)

    assert code == 1, out + err
    table = " on roundtrip_job" if vendor == "postgresql" else ""
    assert f"- trigger roundtrip_job_touch{table} (missing)" in result_of(path)["error"]


RUNPYTHON_AND_SQL = """
from django.db import migrations


def add_author(apps, schema_editor):
    Author = apps.get_model("roundtrip", "Author")
    Author.objects.using(schema_editor.connection.alias).create(name="ann", email=None)


class Migration(migrations.Migration):
    dependencies = [("roundtrip", "0001_initial")]
    operations = [
        migrations.RunPython(add_author, migrations.RunPython.noop),
        migrations.RunSQL(
            "CREATE INDEX roundtrip_author_name_idx ON roundtrip_author (name);",
            "DROP INDEX roundtrip_author_name_idx;",
        ),
    ]
"""


def test_a_runpython_migration_is_compared_with_migrate(bundled) -> None:
    path = bundled(source=RUNPYTHON_AND_SQL)

    code, out, err = validate(APP, CHANGE)

    assert code == 0, out + err
    assert step_of(path, "up")["detail"] == "the schema is the one manage.py migrate gives"

    edit_up_sql(path, "CREATE INDEX", "CREATE UNIQUE INDEX")
    code, out, err = validate(APP, CHANGE)

    assert code == 1, out + err
    assert "roundtrip_author" in result_of(path)["error"]
    assert "roundtrip_author_name_idx" in result_of(path)["error"]


def test_an_up_sql_edit_on_a_table_bundle_json_does_not_name_fails(bundled) -> None:
    """The tables the SQL files name are compared in full, not only those bundle.json names."""
    path = bundled(source=RUNPYTHON_AND_SQL)
    index = "CREATE INDEX roundtrip_author_name_idx ON roundtrip_author (name);"
    edit_up_sql(path, index, f"{index}\nALTER TABLE roundtrip_tag ADD COLUMN extra integer;")

    code, out, err = validate(APP, CHANGE)

    assert code == 1, out + err
    assert "+ roundtrip_tag: column extra (left behind)" in result_of(path)["error"]


def test_a_migration_that_cannot_run_in_one_transaction_says_why_it_was_not_compared(
    bundled,
) -> None:
    source = RUNPYTHON_AND_SQL.replace(
        "class Migration(migrations.Migration):\n",
        "class Migration(migrations.Migration):\n    atomic = False\n",
    )
    path = bundled(source=source)

    code, out, err = validate(APP, CHANGE)

    assert code == 0, out + err
    assert step_of(path, "up")["detail"] == (
        "not compared with manage.py migrate's schema: the migration cannot run in one "
        "transaction (non-atomic or CONCURRENTLY)"
    )


def test_a_rollback_that_leaves_a_longer_varchar_fails_the_down_step(bundled, vendor) -> None:
    """PostgreSQL's driver gives a varchar's length as its display size, not its internal size:
    the snapshot reads the type as the server names it, length included."""
    if vendor != "postgresql":
        pytest.skip("SQLite's rollback of AlterField rebuilds the table")
    path = bundled([migrations.AlterField("author", "name", models.CharField(max_length=250))])
    text = (path / "down.sql").read_text()
    assert "varchar(100)" in text
    (path / "down.sql").write_text(
        "\n".join(x for x in text.splitlines() if "varchar(100)" not in x) + "\n"
    )
    rehash(path, "down.sql")

    code, out, err = validate(APP, CHANGE)

    assert code == 1, out + err
    assert (
        "~ roundtrip_author: column name: type: 'character varying(100)' -> "
        "'character varying(250)'" in result_of(path)["error"]
    )


def test_down_sql_leaving_a_function_or_view_behind_fails(bundled, vendor) -> None:
    """The down step compares every object besides tables with the parent state's too: a view
    (SQLite) or a function (PostgreSQL) that down.sql does not remove is left behind."""
    create = (
        "CREATE FUNCTION roundtrip_answer() RETURNS integer AS $$ SELECT 42 $$ LANGUAGE sql"
        if vendor == "postgresql"
        else "CREATE VIEW roundtrip_answer AS SELECT 42 AS answer"
    )
    path = bundled([migrations.RunSQL(create, "SELECT 1")])  # its reverse removes nothing
    code, out, err = validate(APP, CHANGE)
    assert code == 1, out + err
    kind = "function" if vendor == "postgresql" else "view"
    assert f"+ {kind} roundtrip_answer" in err and "left behind" in err, err
    steps = {s["name"]: s["status"] for s in result_of(path)["steps"]}
    assert steps["up"] == "passed" and steps["down"] == "failed"
