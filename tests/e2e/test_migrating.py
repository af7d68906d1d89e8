"""docs/migrating.md's worked example, run: orders-api before the move (SimpleJWT's
``JWTAuthentication``, a shared HS256 secret) and after it (``iam_client`` with the IAM's JWKS),
the latter as a real process next to a real IAM (gunicorn), over loopback.

Proves: the migrated service serves the same requests and answers with the IAM's tokens, by the
modern login and by a stock SimpleJWT client's calls to the compatibility endpoints; it
authorises from the IAM's ``perms``; and the tokens of the old world (HS256 with the secret the
services used to share) no longer open it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.e2e.test_gateway import PASSWORD, ROOT, Stack

OLD_SECRET = "the-secret-every-service-used-to-share"  # the example's old world
SETUP_USERS = """
from iam.accounts.models import User
from iam.tenancy.models import Membership, Role, Tenant
password = {password!r}
owner, member = (
    User.objects.create_user(email=name + "@acme.example", password=password, email_verified=True)
    for name in ("owner", "member")
)
acme = Tenant.objects.create(name="Acme", slug="acme")
Membership.objects.create(tenant=acme, user=owner, role=Role.objects.get(name="owner"))
Membership.objects.create(tenant=acme, user=member, role=Role.objects.get(name="member"))
print(acme.pk)
"""


class Orders:
    def __init__(self, stack: Stack, url: str, tenant: str) -> None:
        self.stack, self.url, self.tenant = stack, url, tenant

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=10)

    def login(self, email: str) -> dict:
        response = httpx.post(
            f"{self.stack.iam}/api/auth/login/",
            json={"email": email, "password": PASSWORD, "transport": "body"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orders]:
    stack = Stack(tmp_path_factory.mktemp("migrating"))
    stack.manage("migrate", "--noinput")
    stack.manage("rotate_signing_keys")
    tenant = stack.manage("shell", "-c", SETUP_USERS.format(password=PASSWORD)).split()[-1]
    port = stack.downstream_port
    try:
        stack.start(
            ["gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{stack.iam_port}",
             "--workers", "1", "--threads", "4"],
            stack.env,
            f"{stack.iam}/healthz",
        )  # fmt: skip
        service_env = {
            "PATH": stack.env["PATH"],
            "HOME": stack.env["HOME"],
            "DJANGO_SETTINGS_MODULE": "examples.migrating.after.settings",
            "IAM_ISSUER": stack.iam,
            "IAM_AUDIENCE": stack.env["IAM_AUDIENCE"],
        }
        stack.start(
            ["gunicorn", "examples.migrating.after.wsgi:application", "-b", f"127.0.0.1:{port}",
             "--workers", "1"],
            service_env,
            f"http://127.0.0.1:{port}/healthz",
        )  # fmt: skip
        yield Orders(stack, f"http://127.0.0.1:{port}", tenant)
    finally:
        stack.stop()


def test_the_migrated_service_accepts_the_iams_tokens(orders):
    tokens = orders.login("owner@acme.example")
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    me = orders.get("/api/me/", tokens["access"])
    assert me.status_code == 200, me.text
    assert me.json() == {"user": claims["sub"], "tenant": orders.tenant, "roles": ["owner"]}
    invoices = orders.get("/api/invoices/", tokens["access"])
    assert invoices.status_code == 200, invoices.text
    assert invoices.json()["tenant"] == orders.tenant


def test_it_authorises_from_the_iams_permissions(orders):
    member = orders.login("member@acme.example")["access"]
    assert orders.get("/api/me/", member).json()["roles"] == ["member"]
    refused = orders.get("/api/invoices/", member)  # a member's role grants no billing.read
    assert refused.status_code == 403


def test_a_stock_simplejwt_client_keeps_working_through_the_compatibility_endpoints(orders):
    iam = orders.stack.iam
    pair = httpx.post(
        f"{iam}/api/token/", json={"email": "owner@acme.example", "password": PASSWORD}
    ).json()
    assert set(pair) == {"access", "refresh"}
    assert orders.get("/api/invoices/", pair["access"]).status_code == 200
    fresh = httpx.post(f"{iam}/api/token/refresh/", json={"refresh": pair["refresh"]}).json()
    assert orders.get("/api/invoices/", fresh["access"]).status_code == 200
    ended = httpx.post(f"{iam}/api/token/blacklist/", json={"refresh": fresh["refresh"]})
    assert ended.json() == {}


def test_the_old_worlds_tokens_no_longer_open_it(orders):
    """A token as the old auth server minted it (or anyone who held the shared secret): HS256,
    ``user_id``, ``role``, ``permissions``. The migrated service pins RS256 and the IAM's keys."""
    now = int(time.time())
    old = jwt.encode(
        {"token_type": "access", "user_id": 1, "role": "owner", "permissions": ["billing.read"],
         "tenant_id": 7, "exp": now + 600, "iat": now, "jti": "x" * 32},
        OLD_SECRET,
        algorithm="HS256",
    )  # fmt: skip
    # and the IAM's own claims and header, signed the old way: the algorithm is pinned
    real = orders.login("owner@acme.example")["access"]
    claims = jwt.decode(real, options={"verify_signature": False})
    header = jwt.get_unverified_header(real)
    lookalike = jwt.encode(
        claims, OLD_SECRET, algorithm="HS256", headers={"kid": header["kid"], "typ": "at+jwt"}
    )
    for token in (old, lookalike):
        for path in ("/api/me/", "/api/invoices/"):
            response = orders.get(path, token)
            assert response.status_code == 401, response.text
    assert orders.get("/api/invoices/").status_code == 401  # no token at all
    refresh = orders.login("owner@acme.example")["refresh"]
    assert orders.get("/api/me/", refresh).status_code == 401  # a refresh token is no access token


BEFORE = """
import json
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken
call_command("migrate", verbosity=0)
def token(user, role, permissions):
    access = AccessToken.for_user(user)  # what the old auth server's login answered
    access["role"], access["permissions"], access["tenant_id"] = role, permissions, 7
    return str(access)
owner = User.objects.create_user("owner")
member = User.objects.create_user("member")
api = APIClient()
answers = {}
for name, raw in (("owner", token(owner, "owner", ["billing.read"])),
                  ("member", token(member, "member", [])),
                  ("forged", token(owner, "owner", ["billing.read"])[:-4] + "AAAA")):
    for path in ("/api/me/", "/api/invoices/"):
        response = api.get(path, HTTP_AUTHORIZATION=f"Bearer {raw}")
        answers[f"{name} {path}"] = [response.status_code, response.json()]
print(json.dumps(answers))
"""


def test_the_service_before_the_move_answers_the_same_requests():
    """The example's starting point is real code: the same requests, the same answers' shapes,
    from tokens signed with the shared secret."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "examples.migrating.before.settings",
        "JWT_SECRET_KEY": OLD_SECRET,
    }
    result = subprocess.run(
        [sys.executable, "-c", BEFORE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    status, me = answers["owner /api/me/"]
    assert status == 200
    assert me == {"user": "1", "tenant": 7, "roles": ["owner"]}
    assert answers["owner /api/invoices/"][0] == 200
    assert answers["member /api/invoices/"][0] == 403
    assert answers["forged /api/me/"][0] == 401
