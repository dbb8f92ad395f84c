from django.db import migrations


def create_defaults(apps, schema_editor):  # noqa: ANN001, ANN201
    from alerts.defaults import DEFAULT_RULES

    rule = apps.get_model("alerts", "AlertRule")
    db = schema_editor.connection.alias
    # The rules as they are written today, minus fields added by later migrations (which set
    # those themselves): this model is the one of this point in history.
    known = {f.name for f in rule._meta.get_fields()}
    for spec in DEFAULT_RULES:
        spec = {k: v for k, v in spec.items() if k in known}
        rule.objects.using(db).get_or_create(name=spec["name"], defaults=spec)


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
