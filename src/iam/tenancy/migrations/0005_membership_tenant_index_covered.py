"""The single-column index on iam_tenancy_membership.tenant_id goes: membership_unique (tenant,
user) serves every lookup by it. Only the index is dropped (AlterField would also drop and
re-validate the foreign key, scanning the whole table under a lock)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("iam_tenancy", "0004_invitation_email_key_constraint"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="membership",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="iam_tenancy.tenant",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "iam_tenancy_membership_tenant_id_549ff48d"',
                    reverse_sql='CREATE INDEX "iam_tenancy_membership_tenant_id_549ff48d" ON "iam_tenancy_membership" ("tenant_id")',
                ),
            ],
        ),
    ]
