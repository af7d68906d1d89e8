"""Principal helpers and the verifier's fast constructor."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from iam_client import Principal
from iam_client.principal import make_principal

USER = Principal(
    kind="user",
    subject="u-1",
    user_id="u-1",
    session_id="s-1",
    tenant_id="t-1",
    tenant="acme",
    roles=("admin",),
    perms=frozenset({"billing.read", "members.read"}),
)
SERVICE = Principal(
    kind="service",
    subject="svc_1",
    client_id="svc_1",
    scopes=frozenset({"orders.read", "orders.write"}),
)


def test_has_role_means_any_of_them():
    assert USER.has_role("admin")
    assert USER.has_role("owner", "admin")
    assert not USER.has_role("owner")
    assert not USER.has_role()
    assert not SERVICE.has_role("admin")


def test_has_perms_means_all_of_them():
    assert USER.has_perms("billing.read")
    assert USER.has_perms("billing.read", "members.read")
    assert not USER.has_perms("billing.read", "billing.write")
    assert not USER.has_perms()
    assert not SERVICE.has_perms("billing.read")


def test_has_scopes_means_all_of_them():
    assert SERVICE.has_scopes("orders.read")
    assert SERVICE.has_scopes("orders.read", "orders.write")
    assert not SERVICE.has_scopes("orders.read", "orders.delete")
    assert not SERVICE.has_scopes()
    assert not USER.has_scopes("orders.read")


def test_make_principal_builds_the_same_principal():
    fields = {field.name: getattr(USER, field.name) for field in dataclasses.fields(Principal)}
    fields["claims"] = MappingProxyType({"sub": "u-1"})
    built = make_principal(**fields)
    assert type(built) is Principal
    assert built == USER
    assert hash(built) == hash(USER)
    assert {field.name: getattr(built, field.name) for field in dataclasses.fields(Principal)} == (
        fields
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.kind = "service"  # type: ignore[misc]


def test_principal_is_hashable_and_compares_by_identity_fields():
    other = dataclasses.replace(USER, claims={"anything": 1})
    assert other == USER
    assert len({USER, other}) == 1
