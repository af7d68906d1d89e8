"""Uniqueness moves from ``Lower(email)``/``Lower(username)`` (which SQLite and PostgreSQL fold
differently from each other and from the lookups) to the comparison keys filled by 0003."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("iam_accounts", "0003_identity_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="email_key",
            field=models.CharField(editable=False, max_length=64),
        ),
        migrations.RemoveConstraint(model_name="user", name="user_email_ci_unique"),
        migrations.RemoveConstraint(model_name="user", name="user_username_ci_unique"),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=("email_key",),
                name="user_email_key_unique",
                violation_error_message="An account with this e-mail address already exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=("username_key",),
                name="user_username_key_unique",
                violation_error_message="An account with this username already exists.",
            ),
        ),
    ]
