import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from library import data


class Migration(migrations.Migration):
    replaces = [
        ("library", "0002_book_slug"),
        ("library", "0003_fill_slugs"),
        ("library", "0004_loan"),
    ]

    dependencies = [
        ("library", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="book",
            name="slug",
            field=models.SlugField(default="", max_length=200),
        ),
        migrations.RunPython(data.fill_slugs_with_dashes, data.clear_slugs),
        migrations.RunPython(data.seed_shelves, migrations.RunPython.noop),
        migrations.RunSQL(
            "CREATE INDEX library_book_title_lower ON library_book (lower(title));",
            "DROP INDEX library_book_title_lower;",
        ),
        migrations.CreateModel(
            name="Loan",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("returned", models.BooleanField(default=False)),
                (
                    "book",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, to="library.book"
                    ),
                ),
                (
                    "borrower",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
        ),
    ]
