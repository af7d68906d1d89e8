"""The hot paths' SQL helpers: prepared ORM reads and hand-composed inserts."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.core.sql import PreparedQuery, insert_values

pytestmark = pytest.mark.django_db


def _by_email(*, email: str):
    return User.objects.filter(email=email).values_list("email", "is_active")[:1]


def test_a_prepared_query_is_built_once_and_answers_like_the_orm(db):
    builds = []

    def build(*, email):
        builds.append(email)
        return _by_email(email=email)

    User.objects.create_user(email="a@example.com", password="x" * 12)
    User.objects.create_user(email="b@example.com", password="x" * 12, is_active=False)
    prepared = PreparedQuery(build, email=f"example-{uuid.uuid4().hex}")
    for email in ("a@example.com", "b@example.com", "nobody@example.com", "a@example.com"):
        assert prepared.rows(email=email) == list(_by_email(email=email))
    assert len(builds) == 2  # compiled once (a second build finds its changing constants), run


def test_a_value_the_compiler_changes_falls_back_to_the_orm(db):
    """``icontains`` wraps its value (``%…%``): the example is not among the parameters, so the
    query is built at every call, never run with a value in the wrong place."""
    User.objects.create_user(email="carol@example.com", password="x" * 12)
    prepared = PreparedQuery(
        lambda *, part: User.objects.filter(email__icontains=part).values_list("email"),
        part="example-part",
    )
    assert prepared.rows(part="carol") == [("carol@example.com",)]
    assert prepared.rows(part="nobody") == []
    assert prepared._compiled is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared on PostgreSQL")
def test_the_sign_in_reads_run_prepared_on_postgresql(api, user, login):
    from iam.accounts.selectors import _BY_EMAIL, user_get_by_login
    from iam.accounts.services import _USER_LOCK
    from iam.authn.flows import _SIGN_IN_FACTS

    assert login(api).status_code == 200
    assert _BY_EMAIL._compiled is not None
    found = user_get_by_login(identifier=user.email.upper())
    assert (found.pk, found.email, found.password) == (user.pk, user.email, user.password)
    assert _SIGN_IN_FACTS._compiled is not None
    assert _USER_LOCK._compiled is not None
    with transaction.atomic():
        assert _USER_LOCK.first(user_id=user.pk) == (user.password, True)
    assert _SIGN_IN_FACTS.first(user_id=user.pk, user_agent="", domain="testserver") == (
        False,
        True,
        True,
        None,
        None,
        None,
        None,
    )
    assert _SIGN_IN_FACTS.first(user_id=uuid.uuid4(), user_agent="", domain="") is None


def test_insert_values_writes_what_save_would(user):
    event = AuditEvent(type="user:login:succeeded", user_id=user.pk, data={"a": [1]}, ip="::1")
    sql, params = insert_values(event)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    row = AuditEvent.objects.get()
    assert (row.type, row.user_id, row.data, row.ip, row.user_agent) == (
        "user:login:succeeded",
        user.pk,
        {"a": [1]},
        "::1",
        "",
    )
    assert row.created_at is not None  # auto_now_add, as save() sets it


def test_prepared_rows_are_converted_like_the_orms(user):
    """Column converters apply (on SQLite a UUID is stored as text and comes back a UUID)."""
    prepared = PreparedQuery(
        lambda *, email: User.objects.filter(email=email).values_list("id", "email_verified"),
        email="example@example.invalid",
    )
    assert prepared.rows(email=user.email) == [(user.pk, True)]
    assert isinstance(prepared.rows(email=user.email)[0][0], uuid.UUID)


def test_a_query_that_reads_the_clock_is_never_frozen_at_its_first_call(user):
    """A point in time the build takes (``timezone.now()``) comes out of the compiler as a
    constant: run as compiled, the query would ask about the first call's moment forever (a
    session that expired since still live, say). Such a query is built at every call."""
    from datetime import timedelta

    from django.utils import timezone

    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    prepared = PreparedQuery(
        lambda *, email: User.objects.filter(
            email=email, last_login__gt=timezone.now() - timedelta(hours=1)
        ).values_list("email"),
        email=f"example-{uuid.uuid4().hex}",
    )
    assert prepared.rows(email=user.email) == [(user.email,)]
    User.objects.filter(pk=user.pk).update(last_login=timezone.now() - timedelta(hours=2))
    assert prepared.rows(email=user.email) == []  # the hour is counted from now, every call
    assert prepared._compiled is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite takes no row locks")
@pytest.mark.django_db(transaction=True)
def test_a_prepared_row_lock_outside_a_transaction_is_refused_like_the_orms(user):
    """``FOR UPDATE`` in autocommit locks the row for that one statement: nothing. The ORM
    refuses such a query; run as compiled, it went through and the caller held no lock."""
    from django.db.transaction import TransactionManagementError

    prepared = PreparedQuery(
        lambda *, user_id: (
            User.objects.select_for_update().filter(pk=user_id).values_list("email")[:1]
        ),
        user_id=uuid.uuid4(),
    )
    with transaction.atomic():
        assert prepared.first(user_id=user.pk) == (user.email,)
    assert prepared._compiled is not None
    with pytest.raises(TransactionManagementError):
        prepared.first(user_id=user.pk)


def test_insert_values_writes_an_explicit_automatic_key_too(user):
    """The column list is planned once per model; an instance that already has its automatic
    primary key gets it written, one without leaves it to the database."""
    sql, params = insert_values(AuditEvent(id=424242, type="t", user_id=user.pk))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    sql, params = insert_values(AuditEvent(type="u", user_id=user.pk))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    assert sorted(AuditEvent.objects.values_list("type", flat=True)) == ["t", "u"]
    assert AuditEvent.objects.get(type="t").pk == 424242
    assert AuditEvent.objects.get(type="u").pk != 424242
