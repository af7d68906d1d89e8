"""One open invitation per tenant and address key (filled by 0003), instead of ``Lower(email)``."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("iam_tenancy", "0003_invitation_email_key"),
    ]

    operations = [
        migrations.AlterField(
            model_name="invitation",
            name="email_key",
            field=models.CharField(editable=False, max_length=64),
        ),
        migrations.RemoveConstraint(model_name="invitation", name="invitation_open_unique"),
        migrations.AddConstraint(
            model_name="invitation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("accepted_at__isnull", True), ("revoked_at__isnull", True)),
                fields=("tenant", "email_key"),
                name="invitation_open_key_unique",
            ),
        ),
    ]
