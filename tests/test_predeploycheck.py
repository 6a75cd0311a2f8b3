"""The release gate on a real "live" database: verdicts, exit codes and output formats.

The ``live`` alias is a database of its own (dropped and rebuilt per test): every app migrated,
the round-trip app at 0001; the plan is the round-trip app's 0002, bundled and validated as a team
would before a release.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import tempfile
import time
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, migrations, models
from django.db.migrations.executor import MigrationExecutor

import migration_studio
from migration_studio.models import Approval, DeploymentCheck, ValidationRun

from .cases import APP, base_operations
from .conftest import migration_source

CHANGE = "0002_change"
THIRD = "0003_then"
SCHEMA = Path(migration_studio.__file__).parent / "gate" / "predeploycheck.schema.json"


def _empty(alias: str) -> None:
    """Drop every table of the ``alias`` database."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        connection.close()
    else:
        connection.close()
        Path(connection.settings_dict["NAME"]).unlink(missing_ok=True)


@pytest.fixture
def live(packages, bundle_root):
    """Write 0001 and ``operations`` as 0002 (bundled); the live database at 0001."""
    call_command("migrate", "migration_studio", verbosity=0)  # records, in the default database
    ValidationRun.objects.all().delete()
    DeploymentCheck.objects.all().delete()
    Approval.objects.all().delete()
    _empty("live")

    def deploy(
        operations=None,
        *,
        source: str | None = None,
        validated: bool = True,
        then: list | None = None,
    ) -> Path:
        """``then``: the operations of a third migration, 0003, after 0002."""
        files = {
            "0001_initial": migration_source(APP, "0001_initial", base_operations(), []),
            CHANGE: source or migration_source(APP, CHANGE, operations, [(APP, "0001_initial")]),
        }
        if then is not None:
            files[THIRD] = migration_source(APP, THIRD, then, [(APP, CHANGE)])
        packages.create(APP, files)
        call_command("bundlemigration", APP, "0002", verbosity=0)
        if then is not None:
            call_command("bundlemigration", APP, "0003", verbosity=0)
        if validated:
            call_command("validatemigration", APP, verbosity=0)
        executor = MigrationExecutor(connections["live"])
        targets = [n for n in executor.loader.graph.leaf_nodes() if n[0] != APP]
        executor.migrate([*targets, (APP, "0001_initial")])
        connections["live"].close()
        return bundle_root / APP / CHANGE

    yield deploy
    _empty("live")


def gate(*args: str, **options) -> tuple[int, str, str]:
    """Run predeploycheck on the live database: (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    options.setdefault("database", "live")
    try:
        call_command("predeploycheck", *args, stdout=out, stderr=err, no_color=True, **options)
        code = 0
    except SystemExit as exit_info:
        code = int(exit_info.code)
    except CommandError as error:
        code = error.returncode
        err.write(str(error))
    return code, out.getvalue(), err.getvalue()


def verdict(*args: str, **options) -> tuple[int, dict]:
    """The gate's JSON output, checked against its documented schema."""
    code, out, err = gate(*args, format="json", **options)
    assert out, err
    data = json.loads(out)
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    return code, data


def checks(data: dict, name: str) -> list[dict]:
    return [c for m in data["migrations"] for c in m["checks"] if c["name"] == name] + [
        c for c in data["checks"] if c["name"] == name
    ]


def live_sql(*statements: str) -> None:
    with connections["live"].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    connections["live"].close()


NULLABLE = [migrations.AddField("book", "subtitle", models.CharField(max_length=50, null=True))]
NOT_NULL = [migrations.AddField("book", "rating", models.IntegerField(default=3))]


def test_a_clean_plan_passes(live) -> None:
    live(NULLABLE)
    code, data = verdict(APP)
    assert code == 0, data
    assert data["verdict"] == "pass" and data["passed"]
    assert data["plan"] == [f"{APP}.{CHANGE}"]
    [migration] = data["migrations"]
    statuses = {c["name"]: c["status"] for c in migration["checks"]}
    assert statuses["bundle"] == statuses["fresh"] == statuses["validated"] == "pass"
    assert statuses["risk"] == "pass"
    # The run is recorded, for the admin.
    run = DeploymentCheck.objects.get()
    assert (run.database, run.verdict, run.passed) == ("live", data["verdict"], True)
    assert run.plan == [f"{APP}.{CHANGE}"] and run.result["migrations"][0]["name"] == CHANGE
    # Nothing pending: the database is up to date after migrate.
    call_command("migrate", APP, database="live", verbosity=0)
    code, out, _ = gate(APP)
    assert code == 0 and "Nothing to apply" in out


def test_a_migration_without_bundle_fails(live, bundle_root) -> None:
    path = live(NULLABLE, validated=False)
    for name in path.iterdir():
        name.unlink()
    path.rmdir()
    code, data = verdict(APP)
    assert code == 1 and data["verdict"] == "fail"
    [bundle] = checks(data, "bundle")
    assert bundle["status"] == "fail"
    assert f"manage.py bundlemigration {APP} {CHANGE}" in bundle["message"]
    # Allowed for an app the policy lists: a warning, and the gate passes.
    code, data = verdict(APP, unbundled_apps=[APP])
    assert code == 0 and checks(data, "bundle")[0]["status"] == "warn"


def test_a_migration_edited_after_review_fails(live, packages) -> None:
    live(NULLABLE)
    file = packages.directories[APP] / f"{CHANGE}.py"
    file.write_text(file.read_text() + "\n# edited after the bundle was written\n")
    code, data = verdict(APP)
    assert code == 1
    fresh = checks(data, "fresh")[0]
    assert fresh["status"] == "fail" and "the migration file" in fresh["message"]


def test_a_bundle_without_passing_validation_fails_unless_the_policy_says_so(live) -> None:
    live(NULLABLE, validated=False)
    code, data = verdict(APP)
    assert code == 1
    assert checks(data, "validated")[0]["status"] == "fail"
    code, data = verdict(APP, require_validation=False)
    assert code == 0
    assert checks(data, "validated")[0]["status"] == "warn"


def test_a_bundle_whose_validation_failed_fails(live) -> None:
    """The live data is not the scratch's: here validatemigration's sampled copy has the
    duplicates that make the unique index fail, and the gate says so."""
    path = live(
        [migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True))],
        validated=False,
    )
    live_sql(
        "INSERT INTO roundtrip_author (id, name, age) VALUES (1, 'a', 1)",
        "INSERT INTO roundtrip_book (title, isbn, pages, author_id) VALUES "
        "('a', 'dup', 1, 1), ('b', 'dup', 2, 1)",
    )
    with pytest.raises(SystemExit):
        call_command("validatemigration", APP, "0002", sample_from="live", verbosity=0)
    assert json.loads((path / "validation.json").read_text())["status"] == "failed"
    live_sql("UPDATE roundtrip_book SET isbn = 'unique-' || id")  # the live data is fine now
    code, data = verdict(APP)
    [validated] = checks(data, "validated")
    assert code == 1 and validated["status"] == "fail"
    assert validated["message"].startswith("validatemigration failed on the bundle as it is now:")


def test_high_risk_fails_until_acknowledged(live, settings) -> None:
    """MS151 (high): a NOT NULL column without a database default breaks old code's inserts."""
    live(NOT_NULL)
    code, data = verdict(APP)
    assert code == 1
    [risk] = [c for c in checks(data, "risk") if c["status"] == "fail"]
    assert risk["rule"] == "MS151" and risk["severity"] == "high"
    assert risk["line"] is not None  # the AddField's line in the migration file
    # A policy allowing high risk lets it through.
    code, _ = verdict(APP, max_risk="high")
    assert code == 0
    # So does an acknowledgement in the migration (and the bundle written for it).
    source = migration_source(APP, CHANGE, NOT_NULL, [(APP, "0001_initial")]).replace(
        "class Migration(migrations.Migration):\n",
        "class Migration(migrations.Migration):\n"
        '    migration_studio_acknowledge = {"MS151": "the new code ships first"}\n',
    )
    live(source=source)
    code, data = verdict(APP)
    assert code == 0, data
    # A rule the policy always blocks blocks it, acknowledged or not.
    code, data = verdict(APP, block_rules=["MS151"])
    assert code == 1 and checks(data, "blocking-rule")[0]["rule"] == "MS151"


def test_the_risk_of_rolling_back_counts_only_when_the_policy_says_so(live) -> None:
    """Rolling back AddField drops the column (MS156, medium, on rollback): not the gate's concern
    by default; with INCLUDE_ROLLBACK_RISK and a low MAX_RISK it is."""
    live(NULLABLE)
    code, data = verdict(APP, max_risk="low")
    assert code == 0, data
    code, data = verdict(APP, max_risk="low", include_rollback_risk=True)
    assert code == 1
    failed = [c for c in checks(data, "risk") if c["status"] == "fail"]
    assert any(c["rule"] == "MS156" and "(on rollback)" in c["message"] for c in failed)


def test_duplicates_in_the_live_data_fail_the_preflight_of_a_unique(live) -> None:
    live([migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True))])
    live_sql(
        "INSERT INTO roundtrip_author (id, name, age) VALUES (1, 'a', 1)",
        "INSERT INTO roundtrip_book (title, isbn, pages, author_id) VALUES "
        "('a', 'dup', 1, 1), ('b', 'dup', 2, 1), ('c', 'other', 3, 1)",
    )
    code, data = verdict(APP)
    assert code == 1
    failed = [c for c in checks(data, "preflight") if c["status"] == "fail"]
    assert failed and failed[0]["details"]["violations"] == 2
    assert len(failed[0]["details"]["sample"]) == 2
    # Without the duplicates the same check passes.
    live_sql("UPDATE roundtrip_book SET isbn = 'unique-' || id")
    code, data = verdict(APP)
    assert code == 0, data
    assert {c["status"] for c in checks(data, "preflight")} == {"pass"}


def test_a_session_holding_a_lock_on_a_touched_table_fails_the_gate(live, vendor) -> None:
    if vendor != "postgresql":
        pytest.skip("sessions and locks are read from PostgreSQL's catalogs")
    live(NULLABLE)
    with _session() as holder:
        holder.execute("SELECT count(*) FROM roundtrip_book").fetchone()  # in a transaction
        pid = holder.info.backend_pid
        time.sleep(0.3)
        code, data = verdict(APP, long_transaction=0.2)
        [locks] = checks(data, "live-locks")
        assert code == 1 and locks["status"] == "fail"
        assert f"pid {pid}" in locks["message"] and "roundtrip_book" in locks["message"]
        # Younger than the threshold: ordinary traffic, not a blocker.
        code, data = verdict(APP, long_transaction=60)
        assert code == 0 and checks(data, "live-locks")[0]["status"] == "pass"


def test_the_gate_only_reads(live, vendor) -> None:
    """Run as a PostgreSQL role whose transactions are read-only: the gate passes all the same."""
    if vendor != "postgresql":
        pytest.skip("PostgreSQL roles")
    live(NULLABLE)
    with connections["live"].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = 'ms_tests_reader'")
        if not cursor.fetchone():
            cursor.execute("CREATE ROLE ms_tests_reader LOGIN")
        cursor.execute("ALTER ROLE ms_tests_reader SET default_transaction_read_only = on")
        cursor.execute("GRANT USAGE ON SCHEMA public TO ms_tests_reader")
        cursor.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO ms_tests_reader")
    connections["live"].close()
    try:
        code, data = verdict(APP, database="live_reader")
        assert code == 0, data
    finally:
        connections["live_reader"].close()
        with connections["live"].cursor() as cursor:
            cursor.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ms_tests_reader")
            cursor.execute("REVOKE ALL ON SCHEMA public FROM ms_tests_reader")
        connections["live"].close()


def test_usage_errors_exit_2(live) -> None:
    live(NULLABLE)
    code, _, err = gate("no_such_app")
    assert code == 2 and "does not have migrations" in err
    code, _, err = gate(APP, "9999")
    assert code == 2 and "Cannot find a migration" in err
    # A plan that unapplies migrations is a rollback, not a deployment.
    call_command("migrate", APP, database="live", verbosity=0)
    code, _, err = gate(APP, "0001")
    assert code == 2 and "unapplies" in err


def test_output_written_to_a_file(live, tmp_path) -> None:
    live(NULLABLE)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "gate.json"
    code, out, _ = gate(APP, format="json", output=str(target))
    assert code == 0
    assert json.loads(target.read_text())["passed"] is True
    assert "PASS" in out  # the human summary, on stdout
    assert [p.name for p in target.parent.iterdir()] == ["gate.json"]  # no temporary file left
    code, _, err = gate(APP, format="json", output=str(tmp_path / "missing" / "gate.json"))
    assert code == 2 and "Cannot write" in err


def test_formats(live, tmp_path) -> None:
    """JUnit read by a JUnit parser, GitHub annotation lines, Markdown."""
    import junitparser

    live(NOT_NULL)
    code, out, _ = gate(APP, format="junit")
    assert code == 1
    path = tmp_path / "gate.xml"
    path.write_text(out)
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"plan", f"{APP}.{CHANGE}"}
    cases = list(suites[f"{APP}.{CHANGE}"])
    failed = [case for case in cases if not case.is_passed and not case.is_skipped]
    assert [case.name for case in failed] == [
        next(c.name for c in cases if c.name.endswith("risk MS151"))
    ]

    code, out, _ = gate(APP, format="github")
    lines = out.splitlines()
    [error] = [line for line in lines if line.startswith("::error ")]
    assert error.startswith(f"::error file={os.path.relpath(_migration_file(live))},line=")
    assert "title=" in error and "MS151" in error and "::" in error[2:]
    assert lines[-1].startswith("::notice title=predeploycheck::The release gate fails")

    code, out, _ = gate(APP, format="markdown")
    assert out.startswith("## Release gate fails")
    assert "| ❌ fail | risk MS151 |" in out


#: The npm package that ships the official SARIF 2.1.0 JSON schema (sarif-2.1.0.json).
SARIF_PACKAGE = "@microsoft/sarif-multitool-linux@5.7.0"


@pytest.fixture(scope="session")
def sarif_schema() -> dict:
    """The official SARIF 2.1.0 schema, taken once from its npm package and kept in a cache."""
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "migration_studio_tests"
        / "sarif-2.1.0.json"
    )
    if not cache.exists():
        with tempfile.TemporaryDirectory() as directory:
            subprocess.run(
                ["npm", "pack", SARIF_PACKAGE, "--silent"],
                cwd=directory,
                check=True,
                timeout=900,
                stdout=subprocess.DEVNULL,
            )
            [tarball] = Path(directory).glob("*.tgz")
            with tarfile.open(tarball) as archive:
                member = archive.extractfile("package/sarif-2.1.0.json")
                assert member is not None
                text = member.read().decode()
        cache.parent.mkdir(parents=True, exist_ok=True)
        staged = cache.with_suffix(f".{os.getpid()}.tmp")
        staged.write_text(text)
        os.replace(staged, cache)
    return json.loads(cache.read_text())


def test_sarif_is_valid_against_the_official_schema(live, sarif_schema) -> None:
    live(NOT_NULL)
    code, out, _ = gate(APP, format="sarif")
    assert code == 1
    log = json.loads(out)
    jsonschema.validate(log, sarif_schema, cls=jsonschema.Draft202012Validator)
    [run] = log["runs"]
    [result] = [r for r in run["results"] if r["ruleId"] == "MS151"]
    assert result["level"] == "error"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith(f"{CHANGE}.py")
    assert location["region"]["startLine"] > 1
    assert "MS151" in {rule["id"] for rule in run["tool"]["driver"]["rules"]}


def test_sarif_rules_link_to_their_documentation(live, sarif_schema, settings) -> None:
    settings.MIGRATION_STUDIO = {
        **settings.MIGRATION_STUDIO,
        "DOCS_URL": "https://docs.example.com/migration-studio/",
    }
    live(NOT_NULL)
    _, out, _ = gate(APP, format="sarif")
    log = json.loads(out)
    jsonschema.validate(log, sarif_schema, cls=jsonschema.Draft202012Validator)
    [rule] = [r for r in log["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "MS151"]
    assert rule["helpUri"] == "https://docs.example.com/migration-studio/rules.html#ms151"


def _migration_file(live) -> Path:
    import importlib

    from django.conf import settings

    module = importlib.import_module(f"{settings.MIGRATION_MODULES[APP]}.{CHANGE}")
    return Path(module.__file__)


def test_a_lock_on_a_touched_table_is_reported_not_waited_for(live, vendor) -> None:
    """Another session holds ACCESS EXCLUSIVE on the table: the gate's own queries on it give up
    after the lock timeout, and the gate says why instead of hanging the pipeline."""
    if vendor != "postgresql":
        pytest.skip("PostgreSQL locks")
    live([migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True))])
    with _session() as holder:
        holder.execute("LOCK TABLE roundtrip_book IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        code, data = verdict(APP, lock_timeout=0.2, long_transaction=0.01)
        assert time.monotonic() - started < 20
    assert code == 1
    preflight = checks(data, "preflight")
    assert preflight and all(c["status"] == "warn" for c in preflight), preflight
    assert "waited more than 0.2s for a lock" in preflight[0]["message"]
    [locks] = checks(data, "live-locks")
    assert locks["status"] == "fail" and "ACCESS EXCLUSIVE on roundtrip_book" in locks["message"]


def _session(alias: str = "live"):
    import psycopg

    params = connections[alias].settings_dict
    return psycopg.connect(
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        dbname=params["NAME"],
    )


@pytest.mark.parametrize("slow", ["query", "lock"])
def test_every_query_of_the_gate_is_bounded(live, vendor, slow) -> None:
    from migration_studio.gate.policy import policy
    from migration_studio.gate.target import QueryFailed, guarded

    if vendor == "sqlite" and slow == "lock":
        pytest.skip("SQLite readers do not wait for locks")
    live(NULLABLE, validated=False)
    query, why = (
        "SELECT pg_sleep(5)"
        if vendor == "postgresql"
        else "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
        "SELECT count(*) FROM n",
        r"ran longer than 0\.2s",
    )
    holder = None
    if slow == "lock":
        holder = _session()
        holder.execute("LOCK TABLE roundtrip_book IN ACCESS EXCLUSIVE MODE")
        query, why = "SELECT count(*) FROM roundtrip_book", r"waited more than 0\.2s for a lock"
    started = time.monotonic()
    try:
        bounds = policy(STATEMENT_TIMEOUT=0.2 if slow == "query" else 2, LOCK_TIMEOUT=0.2)
        with guarded("live", bounds) as target:
            with pytest.raises(QueryFailed, match=why):
                target.query(query)
            assert target.query("SELECT 1") == [(1,)]  # the session goes on
            with pytest.raises(QueryFailed, match=r"read-only|readonly|attempt to write"):
                target.query("DELETE FROM roundtrip_author")
    finally:
        if holder is not None:
            holder.close()
    assert time.monotonic() - started < 5


def test_drift_an_index_added_by_hand(live) -> None:
    """The live schema is compared with the schema its applied migrations give, built on a
    scratch database of the default alias's server."""
    live(NULLABLE)
    code, data = verdict(APP)
    [drift] = checks(data, "drift")
    assert code == 0 and drift["status"] == "pass", drift
    live_sql('CREATE INDEX "book_pages_by_hand" ON "roundtrip_book" ("pages")')
    code, data = verdict(APP)
    [drift] = checks(data, "drift")
    assert code == 1 and drift["status"] == "fail", drift
    assert "book_pages_by_hand" in drift["message"]
    assert "only in the live database" in drift["message"]
    # A policy that tolerates drift: a warning.
    code, data = verdict(APP, drift_blocks=False)
    assert code == 0 and checks(data, "drift")[0]["status"] == "warn"


def test_drift_is_skipped_with_the_reason_when_no_scratch_server_is_usable(live) -> None:
    live(NULLABLE)
    code, data = verdict(APP, scratch_database="nowhere")
    [drift] = checks(data, "drift")
    assert code == 0 and drift["status"] == "skip"
    assert "there is no database 'nowhere'" in drift["message"]


def test_the_gate_works_without_the_apps_tables(live) -> None:
    """No migration_studio tables where the records go: the run is not recorded, a warning says
    so, and the verdict is the same."""
    live(NULLABLE)
    call_command("migrate", "migration_studio", "zero", verbosity=0)
    try:
        code, out, err = gate(APP, require_validation=False)
        assert code == 0 and "PASS" in out
        assert "The run was not recorded in database 'default'" in err
        assert "manage.py migrate migration_studio" in err
    finally:
        call_command("migrate", "migration_studio", verbosity=0)


def applied_on_live() -> list[str]:
    with connections["live"].cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations WHERE app = %s ORDER BY id", [APP])
        rows = [f"{app}.{name}" for app, name in cursor.fetchall()]
    connections["live"].close()
    return rows


def live_schema() -> dict:
    from migration_studio.validation.schema import snapshot

    schema = snapshot(connections["live"])
    connections["live"].close()
    return schema


def test_apply_applies_a_plan_the_gate_accepts(live) -> None:
    live(NULLABLE)
    code, data = verdict(APP, apply=True)
    assert code == 0, data
    assert data["apply"]["outcome"] == "applied"
    assert [s["status"] for s in data["apply"]["steps"]] == ["applied"]
    assert applied_on_live() == [f"{APP}.0001_initial", f"{APP}.{CHANGE}"]
    assert "subtitle" in live_schema()["roundtrip_book"]["columns"]
    assert DeploymentCheck.objects.get().result["apply"]["outcome"] == "applied"


def test_apply_never_applies_a_plan_the_gate_rejects_unless_overridden(live) -> None:
    live(NOT_NULL)
    code, data = verdict(APP, apply=True)
    assert code == 1 and data["apply"] is None
    assert applied_on_live() == [f"{APP}.0001_initial"]
    code, data = verdict(APP, apply=True, override="hotfix, reviewed by the DBA on call")
    assert code == 0 and data["override"] == "hotfix, reviewed by the DBA on call"
    assert applied_on_live() == [f"{APP}.0001_initial", f"{APP}.{CHANGE}"]
    assert DeploymentCheck.objects.first().override == "hotfix, reviewed by the DBA on call"
    code, _, err = gate(APP, override="no reason to")
    assert code == 2 and "--override only makes sense with --apply" in err


def test_a_failing_post_check_rolls_the_plan_back(live) -> None:
    """checks.sql runs after each migration; violating rows unapply what the run applied."""
    path = live(NULLABLE, validated=False)
    checks = path / "checks.sql"
    checks.write_text(
        checks.read_text()
        + "\n-- check: every book has a subtitle\n"
        + "SELECT id FROM roundtrip_book WHERE subtitle IS NULL;\n"
    )
    call_command("validatemigration", APP, verbosity=0)  # no rows on the scratch database
    live_sql(
        "INSERT INTO roundtrip_author (id, name, age) VALUES (1, 'a', 1)",
        "INSERT INTO roundtrip_book (title, isbn, pages, author_id) VALUES ('t', 'i', 1, 1)",
    )
    before = live_schema()
    code, data = verdict(APP, apply=True)
    assert code == 3, data
    report = data["apply"]
    assert report["outcome"] == "rolled back"
    assert "every book has a subtitle: 1 violating row(s)" in report["reason"]
    assert [s["status"] for s in report["steps"]] == ["rolled back"]
    assert applied_on_live() == [f"{APP}.0001_initial"]
    assert live_schema() == before


def release_at_the_first_pause(monkeypatch, holder) -> None:
    """Close ``holder`` (its locks are released) when --apply first pauses before trying again."""
    from migration_studio.gate import apply

    pause = apply.time.sleep

    def release_then_pause(seconds: float) -> None:
        holder.close()
        pause(seconds)

    monkeypatch.setattr(apply.time, "sleep", release_then_pause)


@pytest.mark.parametrize("released", [True, False], ids=["released", "never-released"])
def test_apply_retries_a_migration_that_waits_for_a_lock(
    live, vendor, released, monkeypatch
) -> None:
    """Another session holds ACCESS EXCLUSIVE on roundtrip_book. Released during the pause after
    the first attempt: the migration timed out, is tried again, and succeeds. Never released:
    the attempts run out and the migration applied before it is unapplied; the schema and
    django_migrations are exactly as before the run."""
    if vendor != "postgresql":
        pytest.skip("PostgreSQL locks")
    author = [migrations.AddField("author", "nickname2", models.CharField(max_length=9, null=True))]
    live(author, then=NULLABLE)
    before, recorded = live_schema(), applied_on_live()
    holder = _session()
    holder.execute("LOCK TABLE roundtrip_book IN ACCESS EXCLUSIVE MODE")
    if released:
        release_at_the_first_pause(monkeypatch, holder)
    try:
        code, data = verdict(
            APP, apply=True, apply_lock_timeout=0.2, attempts=6 if released else 3, backoff=0.2
        )
    finally:
        holder.close()
    steps = {s["migration"]: s for s in data["apply"]["steps"]}
    third = steps[f"{APP}.{THIRD}"]
    if released:
        assert code == 0, data
        assert third["status"] == "applied" and third["attempts"] > 1
        assert applied_on_live() == [*recorded, f"{APP}.{CHANGE}", f"{APP}.{THIRD}"]
        return
    assert code == 3, data
    assert third["status"] == "failed" and third["attempts"] == 3
    assert "waited more than 0.2s for a lock" in third["error"]
    assert steps[f"{APP}.{CHANGE}"]["status"] == "rolled back"
    assert applied_on_live() == recorded
    assert live_schema() == before


def test_apply_of_a_non_atomic_migration_retries_a_statement_and_reports_what_stays(
    live, vendor, packages, monkeypatch
) -> None:
    """A non-atomic migration (CREATE INDEX CONCURRENTLY): each statement commits on its own, so
    a statement that waits too long for a lock is tried again alone. When its attempts run out,
    the statements before it stay: the report lists them and the exit status says the database
    is not back where it was (4)."""
    if vendor != "postgresql":
        pytest.skip("PostgreSQL locks")
    from django.contrib.postgres.operations import AddIndexConcurrently

    source = migration_source(
        APP,
        CHANGE,
        [
            AddIndexConcurrently("author", models.Index(fields=["age"], name="author_age_idx")),
            AddIndexConcurrently("book", models.Index(fields=["pages"], name="book_pages_idx")),
        ],
        [(APP, "0001_initial")],
    ).replace(
        "class Migration(migrations.Migration):\n",
        "class Migration(migrations.Migration):\n    atomic = False\n",
    )
    live(source=source)
    holder = _session()
    holder.execute("LOCK TABLE roundtrip_book IN ACCESS EXCLUSIVE MODE")
    try:
        code, data = verdict(APP, apply=True, apply_lock_timeout=0.2, attempts=2, backoff=0.1)
    finally:
        holder.close()
    assert code == 4, data
    [step] = data["apply"]["steps"]
    assert step["status"] == "failed"
    assert "waited more than 0.2s for a lock 2 time(s)" in step["error"]
    assert [sql for sql in step["committed"] if "author_age_idx" in sql]
    assert not [sql for sql in step["committed"] if "book_pages_idx" in sql]
    assert data["apply"]["outcome"] == "failed"
    assert "stay applied" in data["apply"]["rollback_error"]
    assert applied_on_live() == [f"{APP}.0001_initial"]
    # Released during the pause: the statement alone is tried again, and the migration applies.
    _empty_index = "DROP INDEX IF EXISTS author_age_idx"
    live_sql(_empty_index)
    holder = _session()
    holder.execute("LOCK TABLE roundtrip_book IN ACCESS EXCLUSIVE MODE")
    release_at_the_first_pause(monkeypatch, holder)
    try:
        code, data = verdict(APP, apply=True, apply_lock_timeout=0.2, attempts=3, backoff=0.1)
    finally:
        holder.close()
    assert code == 0, data
    assert applied_on_live() == [f"{APP}.0001_initial", f"{APP}.{CHANGE}"]


def test_what_a_drop_would_lose_is_counted_on_the_live_data(live) -> None:
    live([migrations.RemoveField("author", "email")])
    live_sql(
        "INSERT INTO roundtrip_author (id, name, email, age) VALUES "
        "(1, 'a', 'a@example.com', 1), (2, 'b', NULL, 1), (3, 'c', 'c@example.com', 1)"
    )
    code, data = verdict(APP, max_risk="critical")
    [dropped] = [c for c in checks(data, "preflight") if "is dropped" in c["message"]]
    assert dropped["status"] == "warn" and dropped["details"]["rows"] == 2
    assert "roundtrip_author.email is dropped by operation 1: 2 value(s)" in dropped["message"]
    assert code == 0  # a warning: the data loss itself is the risk check's (MS152, high)
    code, data = verdict(APP)
    assert code == 1 and any(c["rule"] == "MS152" for c in checks(data, "risk"))


def test_a_risky_bundle_needs_an_approval_of_its_content(live) -> None:
    """APPROVAL_REQUIRED_ABOVE: a bundle riskier than that passes only with an approval of its
    files as they are; an approval of an earlier content does not count."""
    from migration_studio.validation.records import approve

    path = live(NOT_NULL)  # MS151, high
    code, data = verdict(APP, max_risk="high", approval_required_above="medium")
    [approved] = checks(data, "approved")
    assert code == 1 and approved["status"] == "fail"
    assert "above medium" in approved["message"]
    approve(path, "dba", "the new code ships first")
    code, data = verdict(APP, max_risk="high", approval_required_above="medium")
    [approved] = checks(data, "approved")
    assert code == 0 and approved["status"] == "pass", data
    assert approved["message"].startswith("Approved by dba on ")
    # The bundle changes (a check added, validated again): the approval no longer counts.
    checks_sql = path / "checks.sql"
    checks_sql.write_text(checks_sql.read_text() + "\n-- check: none\nSELECT 1 WHERE 1 = 0;\n")
    call_command("validatemigration", APP, verbosity=0)
    code, data = verdict(APP, max_risk="high", approval_required_above="medium")
    assert code == 1 and checks(data, "approved")[0]["status"] == "fail"
    # Not required below the threshold.
    code, data = verdict(APP, max_risk="high", approval_required_above="high")
    assert code == 0 and not checks(data, "approved")
