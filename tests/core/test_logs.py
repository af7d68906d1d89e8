"""Structured logs: JSON lines with the request id, and no secret in any of them."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest
from pythonjsonlogger.json import JsonFormatter

from iam.core.logging import RequestIdFilter
from iam.oauth.services import service_client_create
from tests.conftest import PASSWORD, link_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log(settings: Any) -> Iterator[io.StringIO]:
    """Everything logged, at every level, through the production JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    fmt = settings.LOGGING["formatters"]["json"]
    handler.setFormatter(JsonFormatter(fmt["format"], rename_fields=fmt["rename_fields"]))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_audit_events_and_request_errors_are_json_lines_with_the_request_id(
    api: Any, user: Any, login: Any, json_log: io.StringIO
) -> None:
    ok = login(api)
    bad = login(api, password="wrong password here")
    lines = _lines(json_log)
    audit = next(x for x in lines if x.get("audit_type") == "user:login:succeeded")
    assert audit["request_id"] == ok["X-Request-ID"]
    assert audit["level"] == "INFO"
    assert audit["logger"] == "iam.audit"
    assert audit["user_id"] == str(user.pk)
    assert "time" in audit
    error = next(x for x in lines if x["logger"] == "django.request")
    assert error["request_id"] == bad["X-Request-ID"]
    assert error["level"] == "WARNING"
    assert error["status_code"] == 401


def test_no_password_token_code_or_secret_reaches_the_logs(
    api: Any, keys: Any, outbox: list, json_log: io.StringIO, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "1000/min"
        ),
    }
    secrets: list[str] = [PASSWORD, "a wrong password, also secret"]
    email = "carol@example.com"
    api.post("/api/auth/register/", {"email": email, "password": PASSWORD}, format="json")
    verify = link_token(outbox[-1])
    secrets.append(verify)
    api.post("/api/auth/verify-email/", {"token": verify}, format="json")
    body = {"email": email, "transport": "body"}
    api.post("/api/auth/login/", {**body, "password": secrets[1]}, format="json")
    tokens = api.post("/api/auth/login/", {**body, "password": PASSWORD}, format="json").json()
    secrets += [tokens["access"], tokens["refresh"]]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    rotated = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    secrets += [rotated.json()["access"], rotated.json()["refresh"]]
    api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")  # reuse

    auth = {"HTTP_AUTHORIZATION": f"Bearer {rotated.json()['access']}"}
    setup = api.post("/api/auth/mfa/totp/setup/", {}, format="json", **auth).json()
    app = pyotp.parse_uri(setup["otpauth_uri"])
    secrets += [setup["secret"], setup["otpauth_uri"]]
    codes = api.post(
        "/api/auth/mfa/totp/enable/", {"code": app.now()}, format="json", **auth
    ).json()["backup_codes"]
    secrets += codes
    first = api.post("/api/auth/login/", {**body, "password": PASSWORD}, format="json").json()
    secrets.append(first["mfa_token"])
    api.post("/api/auth/login/mfa/", {"mfa_token": first["mfa_token"], "code": "000000"},
             format="json")  # fmt: skip
    done = api.post(
        "/api/auth/login/mfa/", {"mfa_token": first["mfa_token"], "code": codes[0]}, format="json"
    ).json()
    secrets += [done["access"], done["refresh"]]

    api.post("/api/auth/password/reset/", {"email": email}, format="json")
    reset = link_token(outbox[-1])
    new_password = "another long passphrase 77"
    secrets += [reset, new_password]
    api.post(
        "/api/auth/password/reset/confirm/",
        {"token": reset, "password": new_password},
        format="json",
    )

    client, client_secret = service_client_create(name="svc", audiences=["svc-api"])
    secrets.append(client_secret)
    basic = base64.b64encode(f"{client.client_id}:{client_secret}".encode()).decode()
    token = api.post(
        "/api/oauth/token/",
        urlencode({"grant_type": "client_credentials", "audience": "svc-api"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    ).json()
    secrets.append(token["access_token"])
    api.post(
        "/api/oauth/token/",
        urlencode({"grant_type": "client_credentials", "client_id": client.client_id,
                   "client_secret": client_secret + "x"}),
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip

    leaked_query = "query-token-that-must-not-be-logged-0123456789"
    secrets.append(leaked_query)
    api.get(f"/api/auth/me/?access_token={leaked_query}")  # a 401, logged with its path only

    output = json_log.getvalue()
    assert len(_lines(json_log)) > 20  # the flows above did log
    for secret in secrets:
        assert secret not in output, f"a secret ({secret[:6]}…) is in the logs"
    for code in codes:
        assert code.replace("-", "") not in output
