"""The single-column index on iam_sessions_devicesession.user_id goes: session_user_live (user,
revoked_at) serves every lookup by it. Only the index is dropped (AlterField would also drop and
re-validate the foreign key, scanning the whole table under a lock)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("iam_sessions", "0003_session_revoked_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="devicesession",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="device_sessions",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "iam_sessions_devicesession_user_id_967912ed"',
                    reverse_sql='CREATE INDEX "iam_sessions_devicesession_user_id_967912ed" ON "iam_sessions_devicesession" ("user_id")',
                ),
            ],
        ),
    ]
