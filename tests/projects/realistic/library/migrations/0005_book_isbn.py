from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("library", "0004_loan")]

    operations = [
        migrations.AddField(
            model_name="book",
            name="isbn",
            field=models.CharField(max_length=13, null=True),
        ),
    ]
