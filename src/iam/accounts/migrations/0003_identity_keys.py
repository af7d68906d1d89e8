"""Comparison keys for addresses and usernames (``iam.core.identifiers``), filled for every row.

Two accounts whose addresses (or usernames) differ only in letter case or compatibility forms
(``K`` and the Kelvin sign, ``ß`` and ``ss``, …) have one key: the constraint of 0004 cannot
hold for them, and merging accounts is not a migration's call. The migration then refuses and
changes nothing; ``manage.py identity_collisions`` lists them and docs/operations.md says what to
do ("Upgrading: accounts that differ only in spelling").
"""

from typing import Any

from django.db import migrations, models

from iam.core.identifiers import identifier_key

BATCH = 2000


class IdentityCollision(RuntimeError):
    pass


def fill_keys(apps: Any, schema_editor: Any) -> None:
    """Keys in batches (bounded memory), then the collisions, found by the database."""
    User = apps.get_model("iam_accounts", "User")
    last = None
    while True:
        page = User.objects.order_by("pk").only("pk", "email", "username")
        if last is not None:
            page = page.filter(pk__gt=last)
        users = list(page[:BATCH])
        if not users:
            break
        for user in users:
            user.email_key = identifier_key(user.email or "")
            user.username_key = identifier_key(user.username) if user.username else None
        User.objects.bulk_update(users, ["email_key", "username_key"])
        last = users[-1].pk
    groups = []
    for what, key in (("e-mail address", "email_key"), ("username", "username_key")):
        taken = (
            User.objects.filter(**{f"{key}__isnull": False})
            .values(key)
            .annotate(n=models.Count("pk"))
            .filter(n__gt=1)
            .values_list(key, flat=True)
        )
        for value in taken:
            ids = User.objects.filter(**{key: value}).order_by("created_at")
            groups.append((what, [str(pk) for pk in ids.values_list("pk", flat=True)]))
    if groups:
        listing = "\n".join(f"  same {what}: {', '.join(ids)}" for what, ids in groups)
        raise IdentityCollision(
            f"{len(groups)} group(s) of accounts differ only in the spelling of their e-mail "
            f"address or username (letter case, compatibility forms), which now name one "
            f"account:\n{listing}\nNothing was changed. See them with `manage.py "
            "identity_collisions`, keep one account of each group, change or clear the others' "
            'address or username (docs/operations.md, "Upgrading: accounts that differ only in '
            'spelling"), then migrate again.'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("iam_accounts", "0002_account_lifecycle"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="username_key",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop, elidable=False),
    ]
