# The event types of 0002 and 0003, squashed. The column keeps no choices: audit_record checks a
# type against AuditEventType in code, so a new type needs no migration. Choices are not in the
# database schema, so this changes nothing there.

from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [
        ("iam_audit", "0002_event_types"),
        ("iam_audit", "0003_mfa_and_abuse_event_types"),
    ]

    dependencies = [
        ("iam_audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="type",
            field=models.CharField(max_length=64),
        ),
    ]
