"""DRF: IAMTokenAuthentication and the permission classes through real APIViews."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from kit import AUDIENCE, ISSUER, sign, user_claims
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from iam_client import Principal
from iam_client.contrib import drf
from iam_client.contrib.drf import (
    HasPermission,
    HasRole,
    HasScope,
    IAMTokenAuthentication,
    IsService,
    IsUser,
    PrincipalUser,
)

factory = APIRequestFactory()


@pytest.fixture(autouse=True)
def process_verifier(verifier):
    """The process-wide verifier, fed by the fake issuer and clock."""
    drf.set_verifier(verifier)
    yield verifier
    drf.set_verifier(None)


def call(view_class: type[APIView], token: str | None = None, header: str | None = None):
    headers = {}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if header is not None:
        headers["HTTP_AUTHORIZATION"] = header
    request = factory.get("/resource/", **headers)
    return view_class.as_view()(request)


class WhoAmI(APIView):
    def get(self, request: Any) -> Response:
        user, principal = request.user, request.auth
        return Response(
            {
                "user": type(user).__name__,
                "pk": user.pk,
                "is_staff": user.is_staff,
                "kind": principal.kind,
                "same": user.principal is principal,
            }
        )


def view_with(*permissions: Any) -> type[APIView]:
    class Protected(APIView):
        permission_classes = list(permissions)

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

    return Protected


# -- authentication ------------------------------------------------------------------------


def test_user_token_authenticates(tokens):
    token = tokens.user(is_staff=True)
    response = call(WhoAmI, token)
    assert response.status_code == 200
    assert response.data["user"] == "PrincipalUser"
    assert response.data["kind"] == "user"
    assert response.data["same"] is True
    assert response.data["is_staff"] is False  # the claim never opens admin checks here


def test_service_token_authenticates(tokens):
    response = call(WhoAmI, tokens.service())
    assert response.status_code == 200
    assert response.data["kind"] == "service"
    assert response.data["pk"] == "svc_0123456789abcdef01234567"


def test_no_credentials_is_401_with_a_bearer_challenge():
    response = call(WhoAmI)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.data["detail"].code == "not_authenticated"


def test_other_schemes_are_left_to_other_authenticators():
    response = call(WhoAmI, header="Basic dXNlcjpwYXNz")
    assert response.status_code == 401
    assert response.data["detail"].code == "not_authenticated"


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b"])
def test_malformed_bearer_is_refused(header):
    response = call(WhoAmI, header=header)
    assert response.status_code == 401
    assert response.data["detail"].code == "token_invalid"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda t: t.user(exp=int(t.clock.now) - 60), "token_expired"),
        (lambda t: t.user(aud="other-api"), "wrong_audience"),
        (lambda t: t.user(iss="https://evil.example.com"), "wrong_issuer"),
        (lambda t: t.refresh(), "wrong_token_type"),
        (lambda t: t.user()[:-4] + "AAAA", "token_invalid"),
    ],
)
def test_bad_tokens_are_401_with_their_code(tokens, make, code):
    response = call(WhoAmI, make(tokens))
    assert response.status_code == 401
    assert response.data["detail"].code == code
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_unavailable_keys_are_503(tokens, issuer):
    issuer.fail = True
    response = call(WhoAmI, tokens.user())
    assert response.status_code == 503
    assert response.data["detail"].code == "jwks_unavailable"


def test_lowercase_scheme_is_accepted(tokens):
    assert call(WhoAmI, header=f"bearer {tokens.user()}").status_code == 200


# -- permissions ---------------------------------------------------------------------------


def test_has_scope(tokens):
    view = view_with(HasScope("orders.read"))
    assert call(view, tokens.service()).status_code == 200
    denied = call(view, tokens.service(scope="orders.write"))
    assert denied.status_code == 403
    assert denied.data["detail"].code == "insufficient_scope"
    assert call(view, tokens.user()).status_code == 403  # users have no scopes


def test_has_scope_requires_all_of_them(tokens):
    view = view_with(HasScope("orders.read", "orders.delete"))
    assert call(view, tokens.service()).status_code == 403
    assert call(view, tokens.service(scope="orders.read orders.delete")).status_code == 200


def test_has_permission(tokens):
    view = view_with(HasPermission("billing.read"))
    assert call(view, tokens.user()).status_code == 200
    assert call(view, tokens.user(perms=["members.read"])).status_code == 403
    assert call(view, tokens.service()).status_code == 403
    assert (
        call(view_with(HasPermission("billing.read", "billing.write")), tokens.user()).status_code
        == 403
    )


def test_has_role_means_any(tokens):
    view = view_with(HasRole("owner", "admin"))
    assert call(view, tokens.user(roles=["admin"])).status_code == 200
    assert call(view, tokens.user(roles=["owner"])).status_code == 200
    assert call(view, tokens.user(roles=["viewer"])).status_code == 403


def test_is_user_and_is_service(tokens):
    assert call(view_with(IsUser), tokens.user()).status_code == 200
    assert call(view_with(IsUser), tokens.service()).status_code == 403
    assert call(view_with(IsService), tokens.service()).status_code == 200
    assert call(view_with(IsService), tokens.user()).status_code == 403


def test_permissions_compose(tokens):
    view = view_with((IsUser & HasPermission("billing.read")) | HasScope("invoices.read"))
    assert call(view, tokens.user()).status_code == 200
    assert call(view, tokens.user(perms=["members.read"])).status_code == 403
    assert call(view, tokens.service(scope="invoices.read")).status_code == 200
    assert call(view, tokens.service()).status_code == 403
    assert call(view_with(~IsService), tokens.user()).status_code == 200
    assert call(view_with(IsAuthenticated, ~IsService), tokens.service()).status_code == 403


def test_permissions_without_a_token_are_401_not_403():
    assert call(view_with(HasScope("orders.read"))).status_code == 401


@pytest.mark.parametrize("permission", [HasScope, HasPermission, HasRole])
def test_permissions_need_a_name(permission):
    with pytest.raises(TypeError):
        permission()
    with pytest.raises(TypeError):
        permission("")


def test_permissions_deny_requests_authenticated_otherwise():
    """A request authenticated by something else (no IAM principal) is denied, not crashed."""

    class Other(BaseAuthentication):
        def authenticate(self, request: Any) -> tuple[Any, None]:
            return PrincipalUser.__new__(PrincipalUser), None

    class View(APIView):
        authentication_classes = [Other]
        permission_classes = [HasScope("orders.read") | HasRole("admin") | IsUser]

        def get(self, request: Any) -> Response:
            return Response({})

    # PrincipalUser without a principal attribute: principal_of finds nothing
    response = View.as_view()(factory.get("/"))
    assert response.status_code == 403


def test_principal_user_is_a_minimal_user(verifier, tokens):
    principal = verifier.verify(tokens.user())
    user = PrincipalUser(principal)
    assert user.is_authenticated
    assert not user.is_anonymous
    assert user.is_active
    assert not user.is_staff
    assert not user.is_superuser
    assert user.pk == user.id == principal.user_id
    assert user.get_username() == str(user) == "ada@example.com"
    assert not user.has_perm("billing.read")
    assert not user.has_perms(["billing.read"])
    assert user == PrincipalUser(principal)
    assert len({user, PrincipalUser(principal)}) == 1


# -- settings ------------------------------------------------------------------------------


def test_verifier_is_built_from_settings(issuer, key_a):
    drf.set_verifier(None)
    config = {
        "ISSUER": ISSUER,
        "AUDIENCE": [AUDIENCE, "orders-api"],
        "LEEWAY": 5,
        "CACHE_SIZE": 10,
        "HTTP_FETCH": issuer.fetch,
    }
    with override_settings(IAM_CLIENT=config):
        verifier = drf.get_verifier()
        assert verifier is drf.get_verifier()
        assert verifier.audiences == {AUDIENCE, "orders-api"}
        assert verifier.leeway == 5
        assert verifier.cache_size == 10
        token = sign(user_claims(time.time()), key_a)  # a settings-built verifier: real clock
        assert isinstance(IAMTokenAuthentication().get_verifier().verify(token), Principal)
    assert drf.get_verifier() is not verifier  # rebuilt when the setting changed


def test_http_fetch_may_be_a_dotted_path():
    drf.set_verifier(None)
    with override_settings(
        IAM_CLIENT={"ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "HTTP_FETCH": "json.loads"}
    ):
        assert drf.get_verifier().keys._http_fetch.__name__ == "loads"


@pytest.mark.parametrize(
    "config",
    [
        None,
        {"ISSUER": ISSUER},
        {"AUDIENCE": AUDIENCE},
        {"ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "LEWAY": 5},
        {"ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "LEEWAY": -1},
    ],
)
def test_bad_settings_are_improperly_configured(config):
    drf.set_verifier(None)
    with override_settings(IAM_CLIENT=config), pytest.raises(ImproperlyConfigured):
        drf.get_verifier()
