"""The single-column index on iam_mfa_backupcode.user_id goes: the (user, used_at) index serves
every lookup by it. Only the index is dropped (AlterField would also drop and re-validate the
foreign key, scanning the whole table under a lock)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("iam_mfa", "0002_mfachallenge_provider"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="backupcode",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="backup_codes",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "iam_mfa_backupcode_user_id_71bafb4f"',
                    reverse_sql='CREATE INDEX "iam_mfa_backupcode_user_id_71bafb4f" ON "iam_mfa_backupcode" ("user_id")',
                ),
            ],
        ),
    ]
