from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("policies", "0002_compliance")]

    operations = [
        migrations.AddField(
            model_name="compliancesnapshot",
            name="changes_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
