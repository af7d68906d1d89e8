from typing import Any

from django.db import migrations

from iam.tenancy.roles import DEFAULT_ROLES


def create_default_roles(apps: Any, schema_editor: Any) -> None:
    role_model = apps.get_model("iam_tenancy", "Role")
    for name, definition in DEFAULT_ROLES.items():
        role_model.objects.get_or_create(
            name=name,
            defaults={
                "label": definition["label"],
                "rank": definition["rank"],
                "permissions": sorted(definition["permissions"]),
            },
        )


class Migration(migrations.Migration):
    dependencies = [("iam_tenancy", "0001_initial")]

    operations = [migrations.RunPython(create_default_roles, migrations.RunPython.noop)]
