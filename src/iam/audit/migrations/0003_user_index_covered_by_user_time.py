"""The single-column index on iam_audit_auditevent.user_id goes: audit_user_time (user,
-created_at) serves every lookup by it. Only the index is dropped (AlterField would also drop
and re-validate the foreign key, scanning the whole table under a lock)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("iam_audit", "0002_squashed_event_types"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="user",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "iam_audit_auditevent_user_id_7c23ecce"',
                    reverse_sql='CREATE INDEX "iam_audit_auditevent_user_id_7c23ecce" ON "iam_audit_auditevent" ("user_id")',
                ),
            ],
        ),
    ]
