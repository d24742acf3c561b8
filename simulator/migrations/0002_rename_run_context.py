from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("simulator", "0001_initial")]

    operations = [
        migrations.RenameField(model_name="run", old_name="context", new_name="pipeline_state"),
        migrations.AlterField(
            model_name="run",
            name="pipeline_state",
            field=models.JSONField(
                default=dict, help_text="What one step hands on to the next (request spec, migration, action)"
            ),
        ),
    ]
