"""The models and the migrations agree: a change to a model ships with its migration."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_is_missing_a_migration() -> None:
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits non-zero when a migration is missing
        pytest.fail(f"missing migrations (exit {exc.code}):\n{out.getvalue()}")


# --- the comparison keys of addresses and usernames (accounts 0003/0004, tenancy 0003/0004) ----

BEFORE_KEYS = [("iam_accounts", "0002_account_lifecycle"), ("iam_tenancy", "0002_default_roles")]


@pytest.fixture
def before_keys(transactional_db):
    """The schema as it was before the keys, with every migration applied again afterwards."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_KEYS)
    try:
        yield executor
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def _forward(executor, *targets):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(list(targets))
    return executor


def _apps(executor):
    return executor.loader.project_state(BEFORE_KEYS).apps


@pytest.mark.django_db(transaction=True)
def test_the_keys_are_filled_and_spelling_twins_stop_the_migration(before_keys) -> None:
    from iam.core.identifiers import identifier_key

    User = _apps(before_keys).get_model("iam_accounts", "User")
    # spellings that Lower() tells apart on both databases, and the fold does not
    kate = User.objects.create(email="strasse@example.com", username="sam", password="x")
    twin = User.objects.create(email="stra\u00dfe@example.com", password="x")  # sharp s
    named = User.objects.create(email="bob@example.com", username="\u017fam", password="x")
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit, match="1"):  # lists them before the upgrade, too
        call_command("identity_collisions", stdout=out, stderr=err)
    assert f"Same e-mail address:\n  {kate.pk}  strasse@example.com  username=sam" in out.getvalue()
    assert f"  {twin.pk}  stra\u00dfe@example.com  username=-  verified=False" in out.getvalue()
    assert f"Same username:\n  {kate.pk}" in out.getvalue()
    assert "2 group(s)" in err.getvalue()
    with pytest.raises(RuntimeError, match=r"2 group\(s\)") as refused:
        _forward(before_keys, ("iam_accounts", "0004_identity_key_constraints"))
    message = str(refused.value)
    assert f"same e-mail address: {kate.pk}, {twin.pk}" in message
    assert f"same username: {kate.pk}, {named.pk}" in message
    assert "example.com" not in message  # ids only: the log is no place for addresses
    executor = _forward(before_keys, ("iam_accounts", "0002_account_lifecycle"))
    assert ("iam_accounts", "0003_identity_keys") not in executor.loader.applied_migrations

    # the operator keeps kate and moves the others (docs/operations.md)
    User.objects.filter(pk=twin.pk).update(email="strasse.twin@example.com")
    User.objects.filter(pk=named.pk).update(username=None)
    executor = _forward(before_keys, ("iam_accounts", "0004_identity_key_constraints"))
    out = StringIO()
    call_command("identity_collisions", stdout=out)
    assert out.getvalue() == "No accounts collide.\n"
    Keyed = executor.loader.project_state([("iam_accounts", "0004_identity_key_constraints")])
    rows = dict(Keyed.apps.get_model("iam_accounts", "User").objects.values_list("pk", "email_key"))
    assert rows[kate.pk] == identifier_key("STRASSE@example.com")
    assert rows[twin.pk] == identifier_key("strasse.twin@example.com")


@pytest.mark.django_db(transaction=True)
def test_open_invitations_to_one_address_in_two_spellings_keep_the_newest(before_keys) -> None:
    from datetime import timedelta

    from django.utils import timezone

    apps = _apps(before_keys)
    tenant = apps.get_model("iam_tenancy", "Tenant").objects.create(name="Acme", slug="acme")
    role, _ = apps.get_model("iam_tenancy", "Role").objects.get_or_create(
        name="member", defaults={"label": "Member", "rank": 20}
    )
    Invitation = apps.get_model("iam_tenancy", "Invitation")
    now = timezone.now()

    def invite(email, age):
        return Invitation.objects.create(
            tenant=tenant, email=email, role=role, created_at=now, expires_at=now + age
        )

    old = invite("strasse@example.com", timedelta(days=1))
    Invitation.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=1))
    new = invite("stra\u00dfe@example.com", timedelta(days=7))
    other = invite("kim@example.com", timedelta(days=7))
    executor = _forward(before_keys, ("iam_tenancy", "0004_invitation_email_key_constraint"))
    Keyed = executor.loader.project_state(
        [("iam_tenancy", "0004_invitation_email_key_constraint")]
    ).apps.get_model("iam_tenancy", "Invitation")
    still_open = set(Keyed.objects.filter(revoked_at__isnull=True).values_list("pk", flat=True))
    assert still_open == {new.pk, other.pk}
