from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz(api):
    assert api.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_each_dependency(api, keys):
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "database": "ok",
        "cache": "ok",
        "signing_key": "ok",
        "refresh_signing_key": "ok",
    }


def test_readyz_is_503_without_a_signing_key(api, db):
    response = api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["signing_key"] == "error: signing_key_unavailable"
    assert response.json()["checks"]["refresh_signing_key"] == "error: signing_key_unavailable"
    assert response.json()["code"] == "not_ready"


def test_unknown_path_is_a_json_404(api, db):
    response = api.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_method_not_allowed_has_the_error_shape(api, keys):
    response = api.get("/api/auth/login/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_openapi_schema_describes_the_auth_api(api, db):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/auth/login/",
        "/api/auth/refresh/",
        "/api/auth/logout/",
        "/api/auth/me/",
        "/api/auth/verify/",
        "/api/auth/csrf/",
        "/api/token/",
        "/api/token/refresh/",
        "/api/token/verify/",
    ):
        assert path in paths, path
    assert "transport" in str(response.json()["components"]["schemas"]["LoginInputRequest"])
    assert api.get("/api/docs/").status_code == 200
