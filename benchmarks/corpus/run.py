#!/usr/bin/env python3
"""Bundle and validate the migration histories of popular third-party apps (the corpus).

For every app label of the corpus project (``project/``) that has migrations, in a fresh bundle
root: ``manage.py bundlemigration <app>`` (every migration of the app in one run), then
``manage.py validatemigration <app>``; per app the number of migrations, bundles written, bundles
validated and failed, and each failure's first error line with a classification. Optionally
(``--crosscheck N``) N bundles are compared with ``migrate``: ``up.sql``/``down.sql`` run by the
database's client against Django's executor on copies of the same parent state.

Runs by hand (it takes minutes), not in the test suite. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
REQUIREMENTS = HERE / "requirements.txt"
DEFAULT_CHECKOUT = HERE.parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
#: Files of a checkout that make the installable package (copied, so the checkout is not written).
PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", "migration_studio")
FORMAT_VERSION = 1

#: Failure classes, in the order the report lists them.
CATEGORIES = {
    "crash": "traceback in the tool",
    "timeout": "the command did not finish in time",
    "capture": "bundlemigration stopped with an error (no bundle of the app written)",
    "capture-one": "bundlemigration of this migration alone stopped with an error",
    "validate-error": "validatemigration stopped with an error on this bundle",
    "freshness": "validation step failed: freshness",
    "scratch": "validation step failed: parent state",
    "precheck": "validation step failed: checks before up.sql",
    "up": "validation step failed: up.sql",
    "checks": "validation step failed: checks after up.sql",
    "down": "validation step failed: down.sql or schema compared with the parent",
    "redeploy": "validation step failed: up.sql again after down.sql",
    "irreversible": "down or redeploy of an irreversible migration (migrate cannot go back either)",
    "django-down": "Django's own: migrate backwards leaves the same schema as down.sql",
    "django-names": "Django's own: down.sql restores constraints under other names (names only)",
    "django-noop-rows": "Django's own: rows a RunPython inserted survive its reverse",
    "django-names-redeploy": (
        "Django's rollback recreated constraints under other names: up.sql, which drops them by "
        "name, cannot run again (migrate can)"
    ),
}
#: How validatemigration says that down.sql left another schema than the parent's.
SCHEMA_DIFFERS = "down.sql did not restore the parent schema"
INTEGRITY = re.compile(r"duplicate key value|UNIQUE constraint failed|IntegrityError", re.I)


# -- results ------------------------------------------------------------------------------------


@dataclass
class Failure:
    app: str
    migration: str | None
    stage: str  # bundle, bundle-one, validate
    category: str
    error: str


@dataclass
class AppResult:
    app: str
    package: str
    migrations: int  # graph nodes (a squash and the migrations it replaces count once)
    files: int
    bundled: int = 0  # bundles written by the one bundlemigration run
    bundled_one_by_one: int = 0  # with --fallback: bundles of the migrations it left out
    validated: int = 0  # bundles that passed
    failed: int = 0  # bundles that failed (or stopped the command)
    not_validated: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    #: "risk", "forward_risk", "rollback_risk" -> severity -> number of bundles (report.json).
    risks: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Command:
    returncode: int | None  # None: timed out
    stdout: str
    stderr: str
    seconds: float

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr

    def error_line(self) -> str:
        """The line that says what went wrong: the exception of a traceback, or the error."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        if self.traceback:
            return lines[-1] if lines else ""
        for line in lines:
            if line.startswith("CommandError:"):
                return line
        return lines[-1] if lines else f"exit status {self.returncode}"


class Interrupted(Exception):
    """The run was interrupted (Ctrl-C or SIGTERM)."""


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# -- the environment ----------------------------------------------------------------------------


class Runner:
    """Runs manage.py commands of the corpus project in the corpus virtualenv."""

    def __init__(self, python: Path, env: dict[str, str], timeout: float, verbose: bool) -> None:
        self.python = python
        self.env = env
        self.timeout = timeout
        self.verbose = verbose
        self.pids: set[int] = set()
        self.running: set[subprocess.Popen[str]] = set()
        self.stopped = False
        self.lock = threading.Lock()

    def stop(self) -> None:
        """Refuse new commands; SIGTERM the running ones (migration_studio cleans up on it)."""
        with self.lock:
            self.stopped = True
            running = list(self.running)
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def manage(self, *args: str, env: dict[str, str] | None = None) -> Command:
        command = [str(self.python), "manage.py", *args]
        started = time.monotonic()
        if self.stopped:
            raise Interrupted
        process = subprocess.Popen(
            command,
            cwd=PROJECT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        with self.lock:
            self.pids.add(process.pid)
            self.running.add(process)
        try:
            stdout, stderr = process.communicate(timeout=self.timeout)
            returncode: int | None = process.returncode
        except subprocess.TimeoutExpired:
            # SIGTERM first: migration_studio drops its scratch database on it.
            process.send_signal(signal.SIGTERM)
            try:
                stdout, stderr = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
            returncode = None
        finally:
            with self.lock:
                self.running.discard(process)
        if self.stopped:
            raise Interrupted
        done = Command(returncode, stdout, stderr, time.monotonic() - started)
        if self.verbose:
            status = "timeout" if returncode is None else f"exit {returncode}"
            print(f"    manage.py {' '.join(args)}: {status}, {done.seconds:.1f}s", flush=True)
        return done


def ensure_venv(venv: Path, python: str, checkout: Path, work: Path) -> Path:
    """The corpus virtualenv with the pinned packages, and migration_studio from ``checkout``."""
    bin_python = venv / "bin" / "python"
    if not bin_python.exists():
        print(f"Creating the virtualenv {venv} with {python}", flush=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    stamp = venv / ".corpus-requirements"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    pip = [str(bin_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if not stamp.exists() or stamp.read_text() != wanted:
        print(f"Installing {REQUIREMENTS.name} into {venv} (a few minutes)", flush=True)
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    # A copy of the checkout's package files: what is measured is the working tree as it is,
    # installed the way users install it, and nothing is written into the checkout.
    source = work / "migration_studio_source"
    for name in PACKAGE_FILES:
        path = checkout / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    if not (source / "migration_studio").is_dir():
        raise SystemExit(f"{checkout} is not a migration_studio checkout.")
    # Reinstalled only when the files changed (a run in progress keeps its installation).
    installed = venv / ".corpus-migration-studio"
    content = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        content.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    if not installed.exists() or installed.read_text() != content.hexdigest():
        print(f"Installing migration_studio from {checkout}", flush=True)
        subprocess.run([*pip, "--no-deps", "--force-reinstall", str(source)], check=True)
        installed.write_text(content.hexdigest())
    return bin_python


def describe_checkout(checkout: Path) -> str:
    """The commit measured (and whether the package had uncommitted changes)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(checkout), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("log", "-1", "--format=%h (%cs)") or "not a git checkout"
    package = git("log", "-1", "--format=%h (%cs)", "--", "migration_studio")
    dirty = git("status", "--porcelain", "--", "migration_studio")
    return (
        f"commit {commit}"
        + (f", migration_studio/ last changed in {package}" if package else "")
        + (" + uncommitted changes" if dirty else "")
    )


class Databases:
    """The project database, the crosscheck databases and the cleanup of what the run created."""

    def __init__(self, vendor: str, work: Path, server_url: str) -> None:
        self.vendor = vendor
        self.work = work
        self.server = urlsplit(server_url)
        self.run_id = uuid.uuid4().hex[:8]
        self.created: list[str] = []

    def url(self, suffix: str = "") -> str:
        if self.vendor == "sqlite":
            return f"sqlite:///{self.work / f'project{suffix}.sqlite3'}"
        name = f"ms_corpus_{self.run_id}{suffix}"
        netloc = self.server.netloc
        return f"postgres://{netloc}/{name}"

    def create(self, suffix: str = "") -> str:
        url = self.url(suffix)
        if self.vendor == "sqlite":
            path = Path(urlsplit(url).path[1:])
            path.unlink(missing_ok=True)
            path.touch()
        else:
            name = urlsplit(url).path.lstrip("/")
            self.psql(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
            self.created.append(name)
        return url

    def drop(self, suffix: str = "") -> None:
        if self.vendor == "sqlite":
            Path(urlsplit(self.url(suffix)).path[1:]).unlink(missing_ok=True)
            return
        name = urlsplit(self.url(suffix)).path.lstrip("/")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(ValueError):
            self.created.remove(name)

    def psql(self, *statements: str) -> str:
        command = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "postgres"]
        for option, value in (
            ("-h", self.server.hostname),
            ("-p", self.server.port),
            ("-U", self.server.username),
        ):
            if value:
                command += [option, str(value)]
        for statement in statements:
            command += ["-c", statement]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout

    def leftovers(self, pids: set[int], about: dict[str, str] | None) -> list[str]:
        """Scratch databases of the run's processes and the run's cached states, dropped.

        The name prefixes are the measured migration_studio's (``corpus_about``); before it ran,
        no command that makes scratch databases or cached states has run either.
        """
        scratch_prefix = about["scratch_prefix"] if about else None
        cache_prefix = about["cache_prefix"] if about else None
        if self.vendor == "sqlite":
            scratch = self.work / "tmp"
            if not scratch_prefix or not scratch.exists():
                return []
            return [p.name for p in scratch.glob(f"{scratch_prefix}*")]  # removed with the work dir
        names = self.psql("SELECT datname FROM pg_database").split()
        ours = [
            name
            for name in names
            if (scratch_prefix and any(name.startswith(f"{scratch_prefix}{pid}_") for pid in pids))
            or (cache_prefix and name.startswith(cache_prefix))
            or name in self.created
        ]
        for name in ours:
            with contextlib.suppress(RuntimeError):
                self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return [
            n
            for n in ours
            if not (cache_prefix and n.startswith(cache_prefix)) and n not in self.created
        ]


# -- one app ------------------------------------------------------------------------------------


def run_app(
    runner: Runner, root: Path, app: str, info: dict[str, Any], fallback: bool
) -> AppResult:
    result = AppResult(app, info["package"], len(info["nodes"]), info["files"])
    started = time.monotonic()
    bundled = runner.manage("bundlemigration", app, "-v", "0")
    result.bundled = len(_bundles(root, app))
    if bundled.returncode != 0:
        result.failures.append(_command_failure(app, "bundle", bundled, "capture"))
    if fallback and bundled.returncode != 0:
        _bundle_one_by_one(runner, root, app, info, result)
    result.risks = _risks(root, app)
    if _bundles(root, app):
        _validate_app(runner, root, app, info, result)
    # Every migration file (a squash and the migrations it replaces each have a bundle) is
    # validated, failed, or not validated (including those without a bundle).
    result.not_validated = result.files - result.validated - result.failed
    result.seconds = time.monotonic() - started
    return result


def _bundle_one_by_one(
    runner: Runner, root: Path, app: str, info: dict[str, Any], result: AppResult
) -> None:
    """Bundle each migration the one-app run left without a bundle in its own run."""
    whole = result.failures[-1]
    for index, name in enumerate(info["nodes"]):
        if (root / app / name / "bundle.json").exists():
            continue
        one = runner.manage("bundlemigration", app, name, "-v", "0")
        if one.returncode == 0:
            result.bundled_one_by_one += 1
            continue
        failure = _command_failure(app, "bundle-one", one, "capture-one")
        if index == 0 and failure.error == whole.error and whole.migration is None:
            # The first migration alone fails the same way: not one migration's problem.
            whole.error += " (the first migration alone fails the same way; not tried one by one)"
            return
        failure.migration = name
        result.failures.append(failure)


RISK_KEYS = ("risk", "forward_risk", "rollback_risk")
SEVERITIES = ("none", "info", "low", "medium", "high", "critical")


def _risks(root: Path, app: str) -> dict[str, dict[str, int]]:
    """How many of the app's bundles have each overall, deploying and rolling-back risk."""
    counts = {key: dict.fromkeys(SEVERITIES, 0) for key in RISK_KEYS}
    counts["medium_or_worse_only_by_rollback"] = {"bundles": 0}
    for bundle in _bundles(root, app):
        with contextlib.suppress(OSError, ValueError, KeyError):
            report = json.loads((bundle / "report.json").read_text())
            for key in RISK_KEYS:
                counts[key][report[key]] += 1
            serious = SEVERITIES.index("medium")
            if (
                SEVERITIES.index(report["risk"]) >= serious
                and SEVERITIES.index(report["forward_risk"]) < serious
            ):
                counts["medium_or_worse_only_by_rollback"]["bundles"] += 1
    return counts


def _bundles(root: Path, app: str) -> list[Path]:
    return sorted(p.parent for p in (root / app).glob("*/bundle.json"))


def _command_failure(app: str, stage: str, done: Command, category: str) -> Failure:
    if done.returncode is None:
        return Failure(app, None, stage, "timeout", f"timed out after {done.seconds:.0f}s")
    line = done.error_line()
    match = re.search(rf"Migration {re.escape(app)}\.(\w+)", line)
    return Failure(
        app, match.group(1) if match else None, stage, "crash" if done.traceback else category, line
    )


def _validate_app(
    runner: Runner, root: Path, app: str, info: dict[str, Any], result: AppResult
) -> None:
    """``validatemigration <app>``; when it stops on a bundle, again for the bundles left."""
    aside = root.parent / "validated" / app
    stopped: dict[str, Failure] = {}
    try:
        while True:
            remaining = [
                p
                for p in _bundles(root, app)
                if not (p / "validation.json").exists() and p.name not in stopped
            ]
            if not remaining:
                break
            done = runner.manage("validatemigration", app, "-v", "1")
            if done.returncode in (0, 1):
                break
            failure = _command_failure(app, "validate", done, "validate-error")
            heads = re.findall(rf"^Validating {re.escape(app)}\.(\w+):", done.stdout, re.M)
            current = heads[-1] if heads else None
            if done.returncode is None or current is None or current in stopped:
                # Nothing tells which bundle stopped it: every bundle left is not validated.
                failure.migration = None
                result.failures.append(failure)
                break
            failure.migration = current
            stopped[current] = failure
            # Set aside what is done, so the next run starts with the bundles left.
            for path in _bundles(root, app):
                if (path / "validation.json").exists() or path.name in stopped:
                    aside.mkdir(parents=True, exist_ok=True)
                    path.rename(aside / path.name)
    finally:
        if aside.exists():
            for path in aside.iterdir():
                path.rename(root / app / path.name)
    for path in _bundles(root, app):
        if path.name in stopped:
            result.failed += 1
            result.failures.append(stopped[path.name])
            continue
        report = path / "validation.json"
        if not report.exists():
            continue
        data = json.loads(report.read_text())
        if data.get("status") == "passed":
            result.validated += 1
            continue
        result.failed += 1
        ops = info["operations"].get(path.name, {})
        bundle = json.loads((path / "bundle.json").read_text())
        result.failures.append(
            _validation_failure(app, path.name, data, ops, bundle.get("reversible", True))
        )


def _validation_failure(
    app: str, name: str, data: dict[str, Any], ops: dict[str, bool], reversible: bool
) -> Failure:
    failed = [s for s in data.get("steps", []) if s.get("status") != "passed"]
    step = failed[0]["name"] if failed else "validate"
    full_error = data.get("error") or ""
    error = _error_line(full_error)
    diff = data.get("schema_diff") or []
    if step == "down" and diff:
        error = f"{error} {diff[0]}" + (f" (+{len(diff) - 1} more)" if len(diff) > 1 else "")
    if step in ("down", "redeploy") and not reversible:
        step = "irreversible"
    elif step == "down" and diff and _names_only(diff):
        step = "django-names"
    elif step == "redeploy" and "cannot be applied again after their own rollback" in full_error:
        step = "django-names-redeploy"
    elif (
        step == "redeploy"
        and INTEGRITY.search(error)
        and (ops.get("noop_reverse") or "fails the same way under manage.py migrate" in full_error)
    ):
        step = "django-noop-rows"
    return Failure(app, name, "validate", step if step in CATEGORIES else "validate-error", error)


def _error_line(error: str) -> str:
    """One line: the database's own message first, then the start of the failed statement."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    if not lines:
        return ""
    said = next((line for line in lines if re.match(r"\w+ said: ", line)), None)
    if lines[0].startswith("This statement failed:") and said:
        statement = lines[0][len("This statement failed:") :].strip()
        if len(statement) > 80:
            statement = statement[:77] + "..."
        return f"{said} (statement: {statement})"
    return lines[0]


def _names_only(diff: list[str]) -> bool:
    """Every difference is a constraint missing on a table that has one more under another name."""
    missing: dict[str, int] = {}
    extra: dict[str, int] = {}
    for line in diff:
        match = re.match(r"([-+]) (\S+): constraint \S+ \((missing|left behind)\)$", line)
        if not match:
            return False
        counts = missing if match.group(1) == "-" else extra
        counts[match.group(2)] = counts.get(match.group(2), 0) + 1
    return bool(missing) and missing == extra


# -- the crosscheck -----------------------------------------------------------------------------


def crosscheck(
    runner: Runner, databases: Databases, root: Path, sample: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    results = []
    for app, name in sample:
        source, target = databases.create("_xa"), databases.create("_xb")
        try:
            done = runner.manage(
                "corpus_crosscheck",
                app,
                name,
                str(root / app / name),
                env={"DATABASE_URL": source, "CORPUS_CROSSCHECK_URL": target},
            )
        finally:
            databases.drop("_xa")
            databases.drop("_xb")
        entry: dict[str, Any] = {"app": app, "migration": name}
        if done.returncode != 0:
            entry["error"] = done.error_line() if done.returncode is not None else "timed out"
        else:
            entry.update(json.loads(done.stdout.strip().splitlines()[-1]))
            entry["up_same"] = not entry["up_client"] and not entry["up_diff"]
            down = entry["down_diff"]
            entry["down_same"] = None if down is None else not entry["down_client"] and not down
        results.append(entry)
        if runner.verbose:
            print(f"    crosscheck {app}.{name}: {_crosscheck_word(entry)}", flush=True)
    return results


def _crosscheck_down_failures(
    runner: Runner, databases: Databases, root: Path, results: list[AppResult]
) -> None:
    """Is a schema left different by down.sql also what migrate backwards leaves? Then Django's."""
    failures = [
        f
        for r in results
        for f in r.failures
        if f.category in ("down", "django-names") and f.error.startswith(SCHEMA_DIFFERS)
    ]
    if not failures:
        return
    print(f"Crosscheck of the {len(failures)} down failures with migrate backwards", flush=True)
    entries = crosscheck(runner, databases, root, [(f.app, f.migration or "") for f in failures])
    for failure, entry in zip(failures, entries, strict=True):
        if entry.get("down_same"):
            if failure.category != "django-names":
                failure.category = "django-down"
            failure.error += " [migrate backwards: the same schema]"
        elif entry.get("down_same") is False:
            failure.category = "down"  # a difference migrate does not make, names or not
            first = (entry.get("down_diff") or [entry.get("down_client")])[0]
            failure.error += f" [migrate backwards differs: {first}]"


def _crosscheck_word(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return f"error: {entry['error']}"
    down = {True: "same", False: "DIFFERENT", None: "n/a"}[entry["down_same"]]
    return f"up.sql vs migrate {'same' if entry['up_same'] else 'DIFFERENT'}, down.sql {down}"


# -- the report ---------------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    out = [
        f"# Corpus on {report['database']} ({report['finished_at'][:16].replace('T', ' ')} UTC)",
        "",
        f"- migration_studio: {report['checkout']}",
        f"- {report['server']}; Django {report['django']}; Python {report['python']}",
        *(
            [f"- left out of INSTALLED_APPS: {', '.join(report['left_out'])}"]
            if report["left_out"]
            else []
        ),
        f"- timeout per command {report['timeout']:.0f}s; --jobs {report['jobs']}; "
        f"{report['seconds'] / 60:.1f} min in all",
        "",
        "| app label | package | migrations | bundled | validated | failed | not validated "
        "| reasons |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for app in report["apps"]:
        reasons = "; ".join(
            f"{f['category']}: {f['migration'] or '(app)'}" for f in app["failures"]
        )
        files = f" ({app['files']} files)" if app["files"] != app["migrations"] else ""
        extra = f" + {app['bundled_one_by_one']}" if app["bundled_one_by_one"] else ""
        out.append(
            f"| {app['app']} | {app['package']} | {app['migrations']}{files} "
            f"| {app['bundled']}{extra} | {app['validated']} | {app['failed']} "
            f"| {app['not_validated']} | {reasons} |"
        )
    totals = report["totals"]
    out += ["", f"**Totals:** {totals_line(totals)}", ""]
    risks = report.get("risks")
    if risks:
        out += [
            "## Risk of the bundles",
            "",
            "| risk | " + " | ".join(SEVERITIES) + " |",
            "| --- |" + " ---: |" * len(SEVERITIES),
        ]
        for key in RISK_KEYS:
            out.append(f"| {key} | " + " | ".join(str(risks[key][s]) for s in SEVERITIES) + " |")
        serious = ("medium", "high", "critical")
        out += [
            "",
            f"Medium or worse: {sum(risks['risk'][s] for s in serious)} overall, "
            f"{sum(risks['forward_risk'][s] for s in serious)} on deploying; "
            f"{risks['medium_or_worse_only_by_rollback']['bundles']} only through the rollback.",
            "",
        ]
    if report["failures_by_category"]:
        out += ["## Failures", ""]
        for category, failures in report["failures_by_category"].items():
            out.append(f"### {category}: {CATEGORIES.get(category, '')} ({len(failures)})")
            out.append("")
            for f in failures:
                where = f"{f['app']}.{f['migration']}" if f["migration"] else f["app"]
                out.append(f"- `{where}` ({f['stage']}): `{f['error']}`")
            out.append("")
    if report.get("crosscheck"):
        same_up = sum(1 for c in report["crosscheck"] if c.get("up_same"))
        downs = [c for c in report["crosscheck"] if c.get("down_same") is not None]
        same_down = sum(1 for c in downs if c["down_same"])
        out += [
            "## Crosscheck: bundle SQL run by the client vs migrate",
            "",
            f"up.sql = migrate for {same_up}/{len(report['crosscheck'])}; "
            f"down.sql = migrate backwards for {same_down}/{len(downs)}.",
            "",
            "| migration | up.sql vs migrate | down.sql vs migrate backwards | notes |",
            "| --- | --- | --- | --- |",
        ]
        for c in report["crosscheck"]:
            notes = c.get("error") or "; ".join(
                filter(
                    None,
                    [
                        c.get("up_client") and f"up.sql: {c['up_client']}",
                        c.get("down_client") and f"down.sql: {c['down_client']}",
                        *(c.get("up_diff") or [])[:3],
                        *(c.get("down_diff") or [])[:3],
                        c.get("down_skipped"),
                        c.get("run_python") and "has RunPython",
                    ],
                )
            )
            up = "error" if "error" in c else ("same" if c["up_same"] else "DIFFERENT")
            down = (
                "error"
                if "error" in c
                else {True: "same", False: "DIFFERENT", None: "n/a"}[c["down_same"]]
            )
            out.append(f"| {c['app']}.{c['migration']} | {up} | {down} | {notes} |")
        out.append("")
    return "\n".join(out)


def totals_line(t: dict[str, int]) -> str:
    line = (
        f"{t['apps']} app labels, {t['migrations']} migrations ({t['files']} files); "
        f"bundled in one run {t['bundled']}"
    )
    if t["bundled_one_by_one"]:
        line += f" (+ {t['bundled_one_by_one']} one by one)"
    return line + (
        f"; validated {t['validated']}, failed {t['failed']}, not validated "
        f"{t['not_validated']}; apps fully bundled and validated {t['apps_clean']}/{t['apps']}"
    )


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--server-url",
        default=DEFAULT_SERVER,
        help=f"PostgreSQL server to create the run's databases on (default {DEFAULT_SERVER}).",
    )
    parser.add_argument("--apps", help="Comma-separated app labels (default: every one).")
    parser.add_argument(
        "--leave-out",
        default="",
        metavar="APPS",
        help="Comma-separated INSTALLED_APPS entries to leave out of the project "
        "(e.g. django.contrib.postgres).",
    )
    parser.add_argument("--jobs", type=int, default=1, help="Apps run at once (default 1).")
    parser.add_argument(
        "--timeout", type=float, default=300, help="Seconds per manage.py command (default 300)."
    )
    parser.add_argument(
        "--checkout",
        type=Path,
        default=DEFAULT_CHECKOUT,
        help="The migration_studio checkout to measure (default: this repository).",
    )
    parser.add_argument("--venv", type=Path, default=HERE / ".venv")
    parser.add_argument(
        "--python", default=sys.executable, help="Interpreter to create the venv with."
    )
    parser.add_argument("--output", type=Path, help="Write the JSON report here.")
    parser.add_argument("--markdown", type=Path, help="Write the Markdown report here.")
    parser.add_argument(
        "--fallback",
        action="store_true",
        help="Bundle the migrations a failed one-app run left out one by one, to validate them.",
    )
    parser.add_argument(
        "--crosscheck",
        type=int,
        default=0,
        metavar="N",
        help="Compare N bundles (a seeded random sample) with migrate.",
    )
    parser.add_argument("--seed", type=int, default=7, help="Seed of the crosscheck sample.")
    parser.add_argument(
        "--no-down-crosscheck",
        action="store_true",
        help="Do not compare the bundles that failed the down step with migrate backwards.",
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the work directory (bundles, databases)."
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be 1 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ms_corpus_"))
    vendor = "sqlite" if args.database == "sqlite" else "postgresql"
    databases = Databases(vendor, work, args.server_url)
    runner: Runner | None = None
    about: dict[str, str] | None = None
    try:
        python = ensure_venv(args.venv, args.python, args.checkout.resolve(), work)
        (work / "tmp").mkdir()
        env = {
            **os.environ,
            "DATABASE_URL": databases.create(),
            "CORPUS_BUNDLE_ROOT": str(work / "bundles"),
            "CORPUS_CACHE_DIR": str(work / "cache"),
            "TMPDIR": str(work / "tmp"),  # SQLite scratch databases go here
            "PYTHONWARNINGS": "ignore",
            "CORPUS_LEAVE_OUT": args.leave_out,
        }
        runner = Runner(python, env, args.timeout, args.verbose)
        migrated = runner.manage("migrate", "migration_studio", "-v", "0")
        if migrated.returncode != 0:
            raise SystemExit(f"migrate migration_studio failed: {migrated.error_line()}")
        about = json.loads(runner.manage("corpus_about").stdout)
        inventory = json.loads(runner.manage("corpus_inventory").stdout)
        if args.apps:
            wanted = [a.strip() for a in args.apps.split(",") if a.strip()]
            unknown = sorted(set(wanted) - set(inventory))
            if unknown:
                raise SystemExit(f"No migrations for app label(s): {', '.join(unknown)}")
            inventory = {a: inventory[a] for a in inventory if a in wanted}
        print(
            f"Corpus on {vendor}: {len(inventory)} app labels, "
            f"{sum(len(i['nodes']) for i in inventory.values())} migrations; "
            f"migration_studio from {describe_checkout(args.checkout.resolve())}",
            flush=True,
        )
        root = work / "bundles"
        results: list[AppResult] = []
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs)
        try:
            futures = [
                pool.submit(run_app, runner, root, app, info, args.fallback)
                for app, info in inventory.items()
            ]
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                results.append(result)
                print(
                    f"  {result.app:<26} {result.files:>4} migration files  bundled "
                    f"{result.bundled:>4}  validated {result.validated:>4}  failed "
                    f"{result.failed:>3}  not validated {result.not_validated:>3}  "
                    f"{result.seconds:6.1f}s",
                    flush=True,
                )
        except BaseException:
            # On Ctrl-C or SIGTERM: no new command, the running ones stopped.
            pool.shutdown(wait=False, cancel_futures=True)
            runner.stop()
            raise
        finally:
            pool.shutdown(wait=True)
        order = list(inventory)
        results.sort(key=lambda r: order.index(r.app))
        checked: list[dict[str, Any]] = []
        if args.crosscheck:
            # Graph nodes only: ``migrate`` reaches a migration a squash replaces only on a
            # database that recorded part of the squash.
            bundles = [
                (r.app, p.name)
                for r in results
                for p in _bundles(root, r.app)
                if p.name in inventory[r.app]["nodes"]
            ]
            sample = sorted(
                random.Random(args.seed).sample(bundles, min(args.crosscheck, len(bundles)))
            )
            print(f"Crosscheck of {len(sample)} bundles with migrate", flush=True)
            checked = crosscheck(runner, databases, root, sample)
            for entry in checked:
                entry["run_python"] = inventory[entry["app"]]["operations"][entry["migration"]][
                    "run_python"
                ]
        if not args.no_down_crosscheck:
            _crosscheck_down_failures(runner, databases, root, results)
        report = _report(args, vendor, about, results, checked)
        report["seconds"] = time.monotonic() - started
        text = markdown(report)
        if args.output:
            args.output.write_text(json.dumps(report, indent=2) + "\n")
        if args.markdown:
            args.markdown.write_text(text + "\n")
        print()
        print(text)
        return 0
    except (KeyboardInterrupt, Interrupted):
        if runner:
            runner.stop()
        print("Interrupted.", file=sys.stderr)
        return 130
    except BaseException:
        if runner:
            runner.stop()
        raise
    finally:
        left: list[str] = []
        with contextlib.suppress(Exception):
            databases.drop()
        with contextlib.suppress(Exception):
            left = databases.leftovers(runner.pids if runner else set(), about)
        if left:
            print(f"Scratch databases left behind (dropped now): {', '.join(left)}")
        if args.keep:
            print(f"Work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _report(
    args: argparse.Namespace,
    vendor: str,
    about: dict[str, str],
    results: list[AppResult],
    checked: list[dict[str, Any]],
) -> dict[str, Any]:
    apps = [asdict(r) for r in results]
    by_category: dict[str, list[dict[str, Any]]] = {}
    for category in CATEGORIES:
        found = [asdict(f) for r in results for f in r.failures if f.category == category]
        if found:
            by_category[category] = found
    totals = {
        key: sum(getattr(r, key) for r in results)
        for key in (
            "migrations",
            "files",
            "bundled",
            "bundled_one_by_one",
            "validated",
            "failed",
            "not_validated",
        )
    }
    totals["apps"] = len(results)
    risks: dict[str, dict[str, int]] = {}
    for r in results:
        for key, counts in r.risks.items():
            for name, count in counts.items():
                risks.setdefault(key, {}).setdefault(name, 0)
                risks[key][name] += count
    totals["apps_clean"] = sum(
        1 for r in results if r.bundled == r.files and r.validated == r.files
    )
    return {
        "format_version": FORMAT_VERSION,
        "database": vendor,
        "server": about["server"],
        "django": about["django"],
        "python": about["python"],
        "checkout": describe_checkout(args.checkout.resolve()),
        "timeout": args.timeout,
        "jobs": args.jobs,
        "fallback": args.fallback,
        "left_out": [a for a in args.leave_out.split(",") if a],
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "totals": totals,
        "risks": risks,
        "apps": apps,
        "failures_by_category": by_category,
        "crosscheck": checked,
    }


if __name__ == "__main__":
    sys.exit(main())
