"""``makesafemigration --safe`` on the realistic project (tests/projects/realistic), with rows in
its tables, as a user runs it: models edited, Django's questions answered, then the migrations
checked, validated, applied and rolled back with the rows intact.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth.models import Group

from migration_studio.exceptions import SourceEditError
from migration_studio.rewrites import source

from .test_real_projects import Project, copy_project

#: Rows of every kind the edits below touch, loaded before the migrations are made.
ROWS = """
from accounts.models import User
from library.models import Book, Loan, Shelf
users = [User.objects.create(username=f"reader{i}") for i in range(3)]
poetry = Shelf.objects.create(name="poetry")
for i in range(20):
    book = Book.objects.create(
        title=f"Book {i}", shelf=poetry if i % 2 else None, added_by=users[i % 3],
        slug=f"book-{i}", isbn=str(1000 + i), reviewed_by=users[0] if i % 4 == 0 else None,
    )
    Loan.objects.create(book=book, borrower=users[(i + 1) % 3], returned=bool(i % 2))
"""

#: What the rows say, printed by the project's shell (the same before and after a rollback).
SNAPSHOT = """
from django.db import connection
with connection.cursor() as cursor:
    for query in (
        "SELECT id, title, slug, isbn, added_by_id, shelf_id FROM library_book ORDER BY id",
        "SELECT id, book_id, borrower_id, returned FROM library_loan ORDER BY id",
        "SELECT id, name FROM library_shelf ORDER BY id",
    ):
        cursor.execute(query)
        print(cursor.fetchall())
"""

#: The models edited: Shelf.name and Book.added_by (a foreign key to the custom user model)
#: renamed, Book.title indexed, a nullable foreign key to the user added, a unique and a check
#: constraint, isbn made NOT NULL, slug removed and Loan deleted.
MODELS = """
from django.conf import settings
from django.db import models


class Shelf(models.Model):
    label = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.label


class Book(models.Model):
    title = models.CharField(max_length=200, db_index=True)
    shelf = models.ForeignKey(Shelf, on_delete=models.PROTECT, null=True)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    isbn = models.CharField(max_length=13)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="reviews"
    )
    curator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="curated"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shelf", "title"], name="library_book_shelf_title"),
            models.CheckConstraint(
                condition=~models.Q(title=""), name="library_book_title_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.title
"""

#: Django's questions, in the order it asks them: the two renames ("y"), then isbn made NOT
#: NULL (every row has one: "3", ignore).
ANSWERS = "y\ny\n3\n"

SAFE = ["0007_v2_unique", "0008_v2", "0009_v2_validate", "0010_v2_indexes", "0011_v2_drop_later"]


@pytest.fixture
def database(vendor: str) -> Iterator[str | None]:
    """On PostgreSQL, a database of the project's own on the test run's server (on SQLite the
    project has its file)."""
    if vendor != "postgresql":
        yield None
        return
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = f"{parts.path.lstrip('/')}_safe_{os.getpid()}"
    server = urlunsplit(parts._replace(path="/postgres"))
    psql = ["psql", server, "-q", "-v", "ON_ERROR_STOP=1", "-c"]
    subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{name}"'], check=True)
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True)


def with_rows(project: Project) -> str:
    """The project migrated, its tables filled; their rows."""
    project.manage("makemigrations", "library", "--name", "book_reviewed_by")
    project.manage("migrate", "-v0")
    project.manage("shell", "-v0", "-c", ROWS)
    return snapshot(project)


def snapshot(project: Project) -> str:
    return project.manage("shell", "-v0", "-c", SNAPSHOT).stdout


def tables(project: Project) -> str:
    return project.manage(
        "shell",
        "-v0",
        "-c",
        "from django.db import connection; print(connection.introspection.table_names())",
    ).stdout


def readme(project: Project, name: str) -> str:
    return (project.bundles / "library" / name / "README.md").read_text()


def test_safe_rewrites_of_every_kind_on_tables_with_rows(
    tmp_path: Path, database: str | None
) -> None:
    if database is None:
        pytest.skip("the lock-avoiding rewrites are PostgreSQL's")
    project = copy_project(tmp_path)
    project.database_url = database
    rows = with_rows(project)
    models = project.root / "library" / "models.py"
    models.write_text(MODELS.lstrip())

    made = project.manage(
        "makesafemigration", "library", "--safe", "--backup", "--name", "v2", answers=ANSWERS
    )
    assert "Was book.added_by renamed to book.creator (a ForeignKey)?" in made.stdout
    assert "Was shelf.name renamed to shelf.label (a CharField)?" in made.stdout
    migrations = sorted(p.stem for p in (project.root / "library" / "migrations").glob("00*"))
    assert migrations[-5:] == SAFE
    assert project.bundled("library") == SAFE
    # The renamed fields keep their columns, and the models say so.
    edited = models.read_text()
    assert 'on_delete=models.CASCADE, db_column="added_by_id")' in edited
    assert 'models.CharField(max_length=50, unique=True, db_column="name")' in edited
    # Django's state is the models': nothing left to migrate.
    project.manage("makemigrations", "--check", "--dry-run")
    validated = project.manage("validatemigration", "library")
    for name in SAFE:
        assert f"library.{name}: passed" in validated.stdout, validated.stdout

    # Each bundle explains its rewrite.
    assert "CONCURRENTLY" in readme(project, "0007_v2_unique")
    assert "USING INDEX" in (project.bundles / "library" / "0007_v2_unique" / "up.sql").read_text()
    main = " ".join(readme(project, "0008_v2").split())
    assert "the column keeps its name 'added_by_id'" in main
    assert "the column keeps its name 'name'" in main
    assert "Adds library_book_title_not_empty on library.Book NOT VALID" in main
    assert "Adds the foreign key curator on library.Book in steps" in main
    assert "library.0011_v2_drop_later drops them" in main
    assert (
        "VALIDATE CONSTRAINT"
        in (project.bundles / "library" / "0009_v2_validate" / "up.sql").read_text()
    )
    later = (project.bundles / "library" / "0011_v2_drop_later" / "up.sql").read_text()
    assert "ms_backup_" in later and 'DROP TABLE "library_loan"' in later

    # Up to the drops: the old code's queries (old column names, dropped column and table
    # included) still read the same rows.
    project.manage("migrate", "library", "0010", "-v0")
    assert snapshot(project) == rows
    # To the end, and back: the dropped column and table come back with their rows.
    project.manage("migrate", "-v0")
    assert "'library_loan'" not in tables(project)
    assert "ms_backup_" in tables(project)
    project.manage("migrate", "library", "0006", "-v0")
    assert snapshot(project) == rows
    assert "ms_backup_" not in tables(project)


def test_a_removed_foreign_key_stays_checked_and_comes_back(
    tmp_path: Path, database: str | None
) -> None:
    """Loan.book (NOT NULL) leaves the models: until the later migration drops it, the column
    only loses its NOT NULL; its constraint is not dropped and added back (which checks every
    row while the table is locked)."""
    if database is None:
        pytest.skip("the lock-avoiding rewrites are PostgreSQL's")
    project = copy_project(tmp_path)
    project.database_url = database
    rows = with_rows(project)
    models = project.root / "library" / "models.py"
    models.write_text(
        models.read_text().replace(
            "    book = models.ForeignKey(Book, on_delete=models.CASCADE)\n", ""
        )
    )
    project.manage("makesafemigration", "library", "--safe", "--backup", "--name", "v2")
    assert project.bundled("library") == ["0007_v2", "0008_v2_drop_later"]
    up = (project.bundles / "library" / "0007_v2" / "up.sql").read_text()
    assert 'ALTER TABLE "library_loan" ALTER COLUMN "book_id" DROP NOT NULL;' in up
    assert "CONSTRAINT" not in up
    report = json.loads((project.bundles / "library" / "0007_v2" / "report.json").read_text())
    assert report["risk"] == "low", report["findings"]
    project.manage("makemigrations", "--check", "--dry-run")
    validated = project.manage("validatemigration", "library")
    assert validated.stdout.count(": passed") == 2, validated.stdout
    project.manage("migrate", "-v0")
    project.manage("migrate", "library", "0006", "-v0")
    assert snapshot(project) == rows
    constraints = project.manage(
        "shell",
        "-v0",
        "-c",
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    print(connection.introspection.get_constraints(c, 'library_loan'))",
    ).stdout
    assert "('library_book', 'id')" in constraints


def test_on_sqlite_only_the_renames_are_rewritten(tmp_path: Path, vendor: str) -> None:
    if vendor != "sqlite":
        pytest.skip("the other databases' answer")
    project = copy_project(tmp_path)
    rows = with_rows(project)
    models = project.root / "library" / "models.py"
    models.write_text(MODELS.lstrip())

    made = project.manage(
        "makesafemigration", "library", "--safe", "--backup", "--name", "v2", answers=ANSWERS
    )
    assert (
        "--safe on sqlite: the rewrites that avoid locks (CREATE INDEX CONCURRENTLY, constraints "
        "added NOT VALID ...) are PostgreSQL's and are not made; renamed fields and models still "
        "keep their column or table names."
    ) in made.stdout
    # One migration, as Django writes it, but for the renames.
    assert project.bundled("library") == ["0007_v2"]
    up = (project.bundles / "library" / "0007_v2" / "up.sql").read_text()
    assert "CONCURRENTLY" not in up and "NOT VALID" not in up
    assert '"added_by_id"' in up and '"creator_id"' not in up
    edited = models.read_text()
    assert 'db_column="added_by_id"' in edited and 'db_column="name"' in edited
    assert "the column keeps its name 'added_by_id'" in " ".join(readme(project, "0007_v2").split())
    project.manage("makemigrations", "--check", "--dry-run")
    # SQLite rebuilds library_book, forwards and backwards, and the rebuild loses the index
    # 0003_fill_slugs made with RunSQL (Django does not know it): the validation says so, and
    # finds nothing else.
    validated = project.manage("validatemigration", "library", check=False)
    assert validated.returncode == 1
    assert "up         ok" in validated.stdout
    assert validated.stderr == (
        "down.sql did not restore the parent schema:\n"
        "  - library_book: index library_book_title_lower (missing)\n"
    )
    # Forwards and back: the backups put the dropped column and table back.
    project.manage("migrate", "-v0")
    assert "'library_loan'" not in tables(project)
    project.manage("migrate", "library", "0006", "-v0")
    assert snapshot(project) == rows
    assert "ms_backup_" not in tables(project)


def test_a_model_of_an_installed_package_is_never_edited() -> None:
    # django.contrib.auth is installed like any third-party app: renaming its model in a
    # project's own migration history must not edit site-packages.
    with pytest.raises(SourceEditError, match="Group is defined in an installed package"):
        source.model_file(Group)
    assert source.model_file(Project) == Path(__file__).with_name("test_real_projects.py")


#: The library's books get a foreign key and a many-to-many field to django-taggit's Tag.
TAGGED = """
    main_tag = models.ForeignKey(
        "taggit.Tag", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    labels = models.ManyToManyField("taggit.Tag", related_name="books")

    def __str__(self) -> str:
        return self.title
"""


def tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def test_a_third_party_app_with_its_own_history(
    tmp_path: Path, vendor: str, database: str | None, taggit_package: Path
) -> None:
    installed = taggit_package
    before = tree_digest(installed)
    project = copy_project(tmp_path)
    project.database_url = database
    settings = project.root / "site_config" / "settings.py"
    settings.write_text(settings.read_text() + '\nINSTALLED_APPS.append("taggit")\n')
    project.manage("makemigrations", "library", "--name", "book_reviewed_by")
    project.manage("migrate", "-v0")
    models = project.root / "library" / "models.py"
    book_str = "    def __str__(self) -> str:\n        return self.title\n"
    models.write_text(models.read_text().replace(book_str, TAGGED.lstrip("\n"), 1))

    made = project.manage("makesafemigration", "--safe")
    # taggit's own migrations are neither rewritten nor bundled, and nothing is written into
    # the installed package.
    assert "for 'taggit'" not in made.stdout and "taggit/migrations" not in made.stdout
    assert not (project.bundles / "taggit").exists()
    assert tree_digest(installed) == before
    expected = (
        [
            "0007_book_labels_book_main_tag",
            "0008_book_labels_book_main_tag_validate",
            "0009_book_labels_book_main_tag_indexes",
        ]
        if vendor == "postgresql"
        else ["0007_book_labels_book_main_tag"]
    )
    assert project.bundled("library") == expected
    project.manage("makemigrations", "--check", "--dry-run")
    if vendor != "postgresql":
        return  # SQLite's rebuild of library_book loses a hand-made index (see above)
    validated = project.manage("validatemigration", "library")
    for name in expected:
        assert f"library.{name}: passed" in validated.stdout, validated.stdout


#: The project keeps taggit's migrations (MIGRATION_MODULES), and its history calls Tag "Label".
LABEL = """
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("taggit", "{last}")]
    operations = [migrations.RenameModel("Tag", "Label")]
"""


@pytest.fixture
def taggit_package() -> Iterator[Path]:
    """django-taggit's installed directory, its files put back if a test changed them."""
    if importlib.util.find_spec("taggit") is None:
        pytest.skip("django-taggit is not installed (pip install -e '.[dev]')")
    import taggit

    installed = Path(taggit.__file__).parent
    files = {
        path: path.read_bytes()
        for path in installed.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    try:
        yield installed
    finally:
        for path, content in files.items():
            if path.read_bytes() != content:
                path.write_bytes(content)


def test_a_rename_of_a_third_party_model_is_left_as_django_writes_it(
    tmp_path: Path, database: str | None, taggit_package: Path
) -> None:
    if database is None:
        pytest.skip("Django's own RenameModel of taggit.Tag fails on SQLite (an index clash)")
    installed = taggit_package
    before = tree_digest(installed)
    project = copy_project(tmp_path)
    project.database_url = database
    kept = project.root / "taggit_migrations"
    shutil.copytree(installed / "migrations", kept, ignore=shutil.ignore_patterns("__pycache__"))
    last = max(p.stem for p in kept.glob("0*.py"))
    (kept / "0100_label.py").write_text(LABEL.format(last=last))
    settings = project.root / "site_config" / "settings.py"
    settings.write_text(
        settings.read_text() + '\nINSTALLED_APPS.append("taggit")\n'
        'MIGRATION_MODULES = {"taggit": "taggit_migrations"}\n'
    )

    made = project.manage("makesafemigration", "taggit", "--safe", answers="y\n")
    assert "Was the model taggit.Label renamed to Tag?" in made.stdout
    assert (
        "Kept Django's rename of table of taggit.Tag (its table 'taggit_label' becomes "
        "'taggit_tag', which breaks the code still running): Tag is defined in an installed "
        f"package ({installed / 'models.py'}), which is never edited."
    ) in made.stdout
    assert "by hand" not in made.stdout  # nothing a user could add to a package's file
    assert tree_digest(installed) == before
    written = (kept / "0101_rename_label_tag.py").read_text()
    assert "RenameModel" in written and "AlterModelTable" not in written
    project.manage("makemigrations", "taggit", "--check", "--dry-run")
