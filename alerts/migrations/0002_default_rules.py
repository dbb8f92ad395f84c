from django.db import migrations


def create_defaults(apps, schema_editor):  # noqa: ANN001, ANN201
    from alerts.defaults import DEFAULT_RULES

    rule = apps.get_model("alerts", "AlertRule")
    db = schema_editor.connection.alias
    for spec in DEFAULT_RULES:
        rule.objects.using(db).get_or_create(name=spec["name"], defaults=spec)


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
