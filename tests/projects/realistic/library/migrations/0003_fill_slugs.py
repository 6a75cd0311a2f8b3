from django.db import migrations

from library import data


class Migration(migrations.Migration):
    dependencies = [("library", "0002_book_slug")]

    operations = [
        migrations.RunPython(data.fill_slugs_with_dashes, data.clear_slugs),
        migrations.RunPython(data.seed_shelves, migrations.RunPython.noop),
        migrations.RunPython(lambda apps, schema_editor: None, migrations.RunPython.noop),
        migrations.RunSQL(
            "CREATE INDEX library_book_title_lower ON library_book (lower(title));",
            "DROP INDEX library_book_title_lower;",
        ),
    ]
