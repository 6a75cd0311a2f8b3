"""Cases shared by the test modules: the round-trip app's base history and one case per kind of
model change (each runs through capture, risk, validation and the squawk yardstick)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import migrations, models
from django.db.models import Q

APP = "roundtrip"


def base_operations() -> list:
    return [
        migrations.CreateModel(
            "Author",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("name", models.CharField(max_length=100)),
                ("email", models.CharField(max_length=100, null=True)),
                ("age", models.IntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            "Tag",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("name", models.CharField(max_length=50)),
            ],
        ),
        migrations.CreateModel(
            "Book",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("title", models.CharField(max_length=200, db_index=True)),
                ("isbn", models.CharField(max_length=20)),
                ("pages", models.IntegerField()),
                ("author", models.ForeignKey("roundtrip.author", on_delete=models.CASCADE)),
            ],
        ),
        migrations.CreateModel(
            "Note",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("text", models.TextField()),
                ("book", models.ForeignKey("roundtrip.book", on_delete=models.CASCADE)),
            ],
        ),
    ]


@dataclass
class Case:
    id: str
    operations: list
    #: statements the forward / reverse SQL must contain, per vendor (a quick sanity check on top
    #: of the schema comparison).
    forward_contains: dict[str, str] = field(default_factory=dict)
    reverse_contains: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "add_nullable_field",
        [
            migrations.AddField("author", "nickname", models.CharField(max_length=50, null=True)),
        ],
        forward_contains={"postgresql": 'ADD COLUMN "nickname" varchar(50) NULL'},
    ),
    Case(
        "add_field_with_default",
        [
            migrations.AddField("book", "rating", models.IntegerField(default=3)),
        ],
        forward_contains={"postgresql": "DEFAULT 3 NOT NULL"},
    ),
    Case(
        "add_unique_field",
        [
            migrations.AddField("author", "slug", models.SlugField(null=True, unique=True)),
        ],
        forward_contains={"postgresql": "UNIQUE"},
    ),
    Case(
        "add_foreign_key",
        [
            migrations.AddField(
                "book",
                "editor",
                models.ForeignKey(
                    "roundtrip.author", null=True, on_delete=models.SET_NULL, related_name="edited"
                ),
            ),
        ],
        forward_contains={"postgresql": "REFERENCES"},
    ),
    Case(
        "add_many_to_many",
        [
            migrations.AddField("book", "tags", models.ManyToManyField("roundtrip.tag")),
        ],
        forward_contains={"postgresql": 'CREATE TABLE "roundtrip_book_tags"'},
        reverse_contains={"postgresql": 'DROP TABLE "roundtrip_book_tags"'},
    ),
    Case(
        "alter_max_length",
        [
            migrations.AlterField("author", "name", models.CharField(max_length=250)),
        ],
        forward_contains={"postgresql": "TYPE varchar(250)"},
    ),
    Case(
        "alter_null_to_not_null",
        [
            migrations.AlterField("author", "email", models.CharField(max_length=100, default="")),
        ],
        forward_contains={"postgresql": "SET NOT NULL"},
    ),
    Case(
        "alter_not_null_to_null",
        [
            migrations.AlterField("book", "pages", models.IntegerField(null=True)),
        ],
        forward_contains={"postgresql": "DROP NOT NULL"},
    ),
    Case(
        "add_db_index",
        [
            migrations.AlterField("book", "isbn", models.CharField(max_length=20, db_index=True)),
        ],
        forward_contains={"postgresql": "CREATE INDEX"},
        reverse_contains={"postgresql": "DROP INDEX", "sqlite": "DROP TABLE"},
    ),
    Case(
        "remove_db_index",
        [
            migrations.AlterField("book", "title", models.CharField(max_length=200)),
        ],
        forward_contains={"postgresql": "DROP INDEX"},
        reverse_contains={"postgresql": "CREATE INDEX"},
    ),
    Case(
        "alter_field_unique",
        [
            migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True)),
        ],
        forward_contains={"postgresql": "ADD CONSTRAINT"},
        reverse_contains={"postgresql": "DROP CONSTRAINT"},
    ),
    Case(
        "add_meta_index",
        [
            migrations.AddIndex(
                "book", models.Index(fields=["title", "pages"], name="book_tp_idx")
            ),
        ],
        forward_contains={"postgresql": 'CREATE INDEX "book_tp_idx"'},
        reverse_contains={"postgresql": 'DROP INDEX IF EXISTS "book_tp_idx"'},
    ),
    Case(
        "add_unique_constraint",
        [
            migrations.AddConstraint(
                "book",
                models.UniqueConstraint(fields=["author", "title"], name="uniq_author_title"),
            ),
        ],
        forward_contains={"postgresql": "uniq_author_title"},
    ),
    Case(
        "add_check_constraint",
        [
            migrations.AddConstraint(
                "book", models.CheckConstraint(condition=Q(pages__gte=0), name="pages_gte_0")
            ),
        ],
        forward_contains={"postgresql": "CHECK"},
    ),
    Case(
        "remove_field",
        [
            migrations.RemoveField("author", "email"),
        ],
        forward_contains={"postgresql": 'DROP COLUMN "email"'},
        reverse_contains={"postgresql": 'ADD COLUMN "email"'},
    ),
    Case(
        "remove_not_null_field",
        [
            migrations.RemoveField("author", "age"),
        ],
        reverse_contains={"postgresql": 'ADD COLUMN "age"'},
    ),
    Case(
        "delete_model",
        [
            migrations.DeleteModel("tag"),
        ],
        forward_contains={"postgresql": 'DROP TABLE "roundtrip_tag"'},
        reverse_contains={"postgresql": 'CREATE TABLE "roundtrip_tag"'},
    ),
    Case(
        "create_model",
        [
            migrations.CreateModel(
                "Review",
                [
                    ("id", models.BigAutoField(primary_key=True)),
                    ("stars", models.PositiveSmallIntegerField()),
                    ("book", models.ForeignKey("roundtrip.book", on_delete=models.CASCADE)),
                ],
            ),
        ],
        forward_contains={"postgresql": 'CREATE TABLE "roundtrip_review"'},
    ),
    Case(
        "rename_field",
        [
            migrations.RenameField("book", "pages", "page_count"),
        ],
        forward_contains={"postgresql": 'RENAME COLUMN "pages" TO "page_count"'},
        reverse_contains={"postgresql": 'RENAME COLUMN "page_count" TO "pages"'},
    ),
    Case(
        "alter_field_type",
        [
            migrations.AlterField("book", "pages", models.BigIntegerField()),
        ],
        forward_contains={"postgresql": "TYPE bigint"},
    ),
    Case(
        "alter_char_to_text",
        [
            migrations.AlterField("author", "name", models.TextField()),
        ],
        forward_contains={"postgresql": "TYPE text"},
    ),
    Case(
        "alter_foreign_key_target",
        [
            migrations.AlterField(
                "note",
                "book",
                models.ForeignKey("roundtrip.book", on_delete=models.CASCADE, db_index=False),
            ),
        ],
    ),
    Case(
        "several_operations_with_deferred_sql",
        [
            migrations.CreateModel(
                "Shelf",
                [
                    ("id", models.BigAutoField(primary_key=True)),
                    ("label", models.CharField(max_length=10, unique=True)),
                ],
            ),
            migrations.AddField(
                "book",
                "shelf",
                models.ForeignKey("roundtrip.shelf", null=True, on_delete=models.SET_NULL),
            ),
            migrations.AlterUniqueTogether("book", {("title", "author")}),
        ],
    ),
]
