"""IAMAuthentication: one boundary for the header and the cookie, CSRF for cookies, revocation."""

from __future__ import annotations

import pytest
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from iam.accounts.models import User
from iam.authn.authentication import IAMAuthentication
from iam.tokens.tokens import AccessToken
from tests.conftest import csrf_headers

pytestmark = pytest.mark.django_db


class EchoView(APIView):
    """Any view gets IAMAuthentication and IsAuthenticated by default."""

    def get(self, request):
        return Response({"user": str(request.user.pk), "sid": request.auth["sid"]})

    def post(self, request):
        return self.get(request)


def test_it_is_the_default_authentication_and_deny_is_the_default(api, keys):
    from rest_framework.settings import api_settings

    assert [IAMAuthentication] == api_settings.DEFAULT_AUTHENTICATION_CLASSES
    response = api.get("/api/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bearer_header_yields_a_normal_user_and_the_token(api, user, tokens):
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    found_user, token = IAMAuthentication().authenticate(EchoView().initialize_request(request))
    assert isinstance(found_user, User)
    assert found_user.pk == user.pk
    assert isinstance(token, AccessToken)
    assert token["sub"] == str(user.pk)


def test_cookie_works_for_safe_requests(browser, user, login):
    login(browser, transport="cookie")
    response = browser.get("/api/auth/me/")
    assert response.status_code == 200
    assert response.json()["email"] == user.email


def test_header_wins_over_cookie(browser, user, login):
    login(browser, transport="cookie")
    response = browser.get("/api/auth/me/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401  # the bad header is not rescued by the good cookie


def test_other_authorization_schemes_are_not_ours(api, keys):
    response = api.get("/api/auth/me/", HTTP_AUTHORIZATION="Basic YWxhZGRpbjpvcGVuc2VzYW1l")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_token_in_query_string_is_ignored(api, tokens):
    response = api.get(f"/api/auth/me/?access_token={tokens['access']}&token={tokens['access']}")
    assert response.status_code == 401


def test_cookie_authenticated_unsafe_request_needs_csrf(browser, user, login):
    login(browser, transport="cookie")
    factory = APIRequestFactory(enforce_csrf_checks=True)
    view = EchoView.as_view()

    request = factory.post("/", {}, format="json")
    request.COOKIES["access_token"] = browser.cookies["access_token"].value
    response = view(request)
    assert response.status_code == 403
    assert response.data["code"] == "csrf_failed"

    headers = csrf_headers(browser)
    request = factory.post("/", {}, format="json", **headers)
    request.COOKIES.update(
        access_token=browser.cookies["access_token"].value,
        csrftoken=browser.cookies["csrftoken"].value,
    )
    assert view(request).status_code == 200


def test_bearer_unsafe_request_needs_no_csrf(tokens):
    factory = APIRequestFactory(enforce_csrf_checks=True)
    request = factory.post("/", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert EchoView.as_view()(request).status_code == 200


def test_revoked_session_access_token_is_refused_at_once(api, tokens):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    assert api.get("/api/auth/me/", **headers).status_code == 200  # now in the token cache
    assert (
        api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code
        == 204
    )
    response = api.get("/api/auth/me/", **headers)
    assert response.status_code == 401
    assert (
        api.post("/api/auth/verify/", {"token": tokens["access"]}, format="json").status_code == 401
    )


def test_deactivated_user_is_refused_at_once(api, tokens, user):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    assert api.get("/api/auth/me/", **headers).status_code == 200
    user.is_active = False
    user.save()  # the admin and every service save; see auth_state for out-of-band SQL
    assert api.get("/api/auth/me/", **headers).status_code == 401


def test_me_costs_at_most_one_query(api, tokens, django_assert_max_num_queries):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    api.get("/api/auth/me/", **headers)
    # session joined with user (none with a shared cache); keys and signature are cached
    with django_assert_max_num_queries(1):
        assert api.get("/api/auth/me/", **headers).status_code == 200


def test_verify_endpoint(api, tokens):
    assert api.post("/api/auth/verify/", {"token": tokens["access"]}, format="json").json() == {}
    response = api.post("/api/auth/verify/", {"token": tokens["refresh"]}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
    assert api.post("/api/auth/verify/", {}, format="json").status_code == 400
