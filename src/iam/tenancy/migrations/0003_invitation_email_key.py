"""The comparison key of invited addresses (``iam.core.identifiers``), as ``User.email_key``.

Open invitations of one tenant whose addresses differ only in spelling would break the new
one-open-invitation-per-address constraint (0004): the newest stays open and the older ones are
revoked, exactly what inviting the same address again does. Nothing else changes.
"""

from typing import Any

from django.db import migrations, models
from django.utils import timezone

from iam.core.identifiers import identifier_key

BATCH = 2000


def fill_keys(apps: Any, schema_editor: Any) -> None:
    Invitation = apps.get_model("iam_tenancy", "Invitation")
    last = None
    while True:
        page = Invitation.objects.order_by("pk").only("pk", "email")
        if last is not None:
            page = page.filter(pk__gt=last)
        invitations = list(page[:BATCH])
        if not invitations:
            break
        for invitation in invitations:
            invitation.email_key = identifier_key(invitation.email or "")
        Invitation.objects.bulk_update(invitations, ["email_key"])
        last = invitations[-1].pk
    open_ = Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True)
    doubled = (
        open_.values("tenant_id", "email_key")
        .annotate(n=models.Count("pk"))
        .filter(n__gt=1)
        .values_list("tenant_id", "email_key")
    )
    now = timezone.now()
    for tenant_id, key in list(doubled):
        same = open_.filter(tenant_id=tenant_id, email_key=key).order_by("-created_at", "-pk")
        newest = same.values_list("pk", flat=True).first()
        same.exclude(pk=newest).update(revoked_at=now)


class Migration(migrations.Migration):
    dependencies = [
        ("iam_tenancy", "0002_default_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="email_key",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop, elidable=False),
    ]
