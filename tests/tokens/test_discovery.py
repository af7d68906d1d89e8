"""/.well-known/openid-configuration lists only what is served, and every field is documented."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from django.urls import resolve

from iam.oauth.services import service_client_create
from tests.tokens.test_contract import claim_table

pytestmark = pytest.mark.django_db

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
FORM = "application/x-www-form-urlencoded"
# Fields of OpenID Connect Discovery / RFC 8414 that describe something this IAM does not do:
# no ID token, no authorization endpoint, no OIDC UserInfo, no RP-initiated logout, no JWT client
# authentication. Listing any of them would send a client after something that is not there.
NOT_SERVED = {
    "id_token_signing_alg_values_supported",
    "authorization_endpoint",
    "response_types_supported",
    "subject_types_supported",
    "userinfo_endpoint",
    "end_session_endpoint",
    "token_endpoint_auth_signing_alg_values_supported",
    "scopes_supported",
}


@pytest.fixture
def document(api, keys):
    response = api.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    return response.json()


def documented_fields() -> set[str]:
    section = API_DOC.read_text().split("### Discovery", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def test_nothing_that_is_not_served_is_listed(document):
    assert not NOT_SERVED & set(document)


def test_every_field_is_documented_and_every_documented_field_is_there(document):
    assert set(document) == documented_fields()


def test_every_endpoint_it_names_is_served_under_the_issuer(api, document):
    for field in ("jwks_uri", "token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        url = urlsplit(document[field])
        assert f"{url.scheme}://{url.netloc}" == document["issuer"] == "https://iam.test"
        resolve(url.path)  # raises Resolver404 for a path the IAM does not serve
    assert api.get(urlsplit(document["jwks_uri"]).path).status_code == 200


def test_client_authentication_methods_it_lists_are_accepted(api, document, keys):
    client, secret = service_client_create(
        name="probe", audiences=["probe-api"], can_introspect=True
    )
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    ways = {
        "client_secret_basic": ({}, {"HTTP_AUTHORIZATION": f"Basic {basic}"}),
        "client_secret_post": ({"client_id": client.client_id, "client_secret": secret}, {}),
    }
    grant = {"grant_type": "client_credentials"}
    for field, extra_form in (
        ("token_endpoint", grant),
        ("introspection_endpoint", {"token": "x"}),
        ("revocation_endpoint", {"token": "x"}),
    ):
        methods = document[f"{field}_auth_methods_supported"]
        assert set(methods) == set(ways), field
        for method in methods:
            form, headers = ways[method]
            response = api.post(
                urlsplit(document[field]).path,
                urlencode({**extra_form, **form}),
                content_type=FORM,
                **headers,
            )
            assert response.status_code == 200, (field, method, response.content)


def test_grant_types_are_the_ones_the_token_endpoint_takes(api, document):
    assert document["grant_types_supported"] == ["client_credentials"]
    refused = api.post(
        urlsplit(document["token_endpoint"]).path,
        urlencode({"grant_type": "password", "username": "a", "password": "b"}),
        content_type=FORM,
    )
    assert refused.status_code in (400, 401)


def test_claims_supported_are_the_claims_of_the_jwt_contract(document):
    contract = (
        claim_table("Access token claims")
        | claim_table("Tenant claims")
        | claim_table("Service token claims")
    )
    assert set(document["claims_supported"]) == set(contract)
    assert len(document["claims_supported"]) == len(set(document["claims_supported"]))


def test_urls_follow_the_configured_issuer_not_the_host(api, keys, settings):
    settings.ALLOWED_HOSTS = ["testserver", "other.test"]
    body = api.get("/.well-known/openid-configuration", HTTP_HOST="other.test").json()
    assert body["issuer"] == "https://iam.test"
    assert "other.test" not in str(body)
