"""Schema-driven fuzzing: no input to any operation of the OpenAPI schema gets a 5xx.

Run with ``make fuzz`` (``IAM_FUZZ=1``; without it ``tests/fuzz/conftest.py`` ignores this module,
so ``make test`` neither runs nor imports it). ``IAM_FUZZ_EXAMPLES`` (default 25) bounds the
random examples per operation.

What runs
    ``test_no_server_errors``: schemathesis 4 loads ``/api/schema/`` from the Django WSGI
    application in-process and makes one pytest test per operation (``schema.parametrize()``).
    Each runs schemathesis' phases: the schema's examples, the coverage cases (boundary lengths,
    wrong types, missing and extra fields, other content types, unexpected methods) and
    ``IAM_FUZZ_EXAMPLES`` Hypothesis examples of valid and invalid data. Hypothesis is
    derandomized and keeps no example database, so every run sends the same requests. Checks:
    ``not_a_server_error`` (no 5xx, with the server's traceback next to it, caught through
    ``got_request_exception``) and ``error_body_shape`` (every 4xx is a JSON object with string
    ``detail`` and ``code``; the OAuth endpoints may answer with RFC 6749's
    ``error``/``error_description`` instead).

    ``test_raw_bodies_are_refused_cleanly``: what a schema-driven generator never sends (it
    serializes what it generates): broken JSON, bodies over the size limit, forms, other content
    types, to every operation that takes a body; same checks, all failures of an operation listed
    together.

    ``test_spellings_of_existing_addresses``: existing accounts' addresses spelt with other code
    points (ones that fold to the same text: Kelvin sign, full-width and mathematical letters,
    ligatures, sharp s, invisible characters, letter case; and look-alikes that do not: dotted
    capital I, dotless i), ``4 * IAM_FUZZ_EXAMPLES`` of them, sent to registration, resend,
    reset, login (e-mail and username), invitations and the e-mail change: no 5xx, the error
    shape, the same answer whether or not the address has an account, and sign-in and "already
    a member" exactly when the spelling's comparison key is the account's.

Authentication
    Every request is sent twice: as generated (anonymous, or with whatever garbage credentials
    schemathesis made up), then authenticated: ``Authorization: Bearer`` with a fresh access token
    of the verified user ``alice`` (owner of tenant ``acme``, signed in to it), or HTTP Basic with
    a service client's credentials for the ``basicAuth`` OAuth endpoints. Each authenticated
    request gets its own body-transport login, so a request that ends sessions (logout,
    logout-all, DELETE sessions or me) cannot leave the rest of the run with 401s.

Database and limits
    pytest-django's ``db`` fixture: one transaction per operation's test, and each example (each
    raw body) runs in a savepoint that is rolled back, so examples do not see each other's writes
    and a shrunk failure replays against the same state. Django's per-request connection
    recycling is kept out of the test transaction as ``django.test.Client`` does (this also runs
    on PostgreSQL). Every throttle rate and the sign-in/MFA lockout thresholds are raised for the
    run so that no limit masks a view.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.signals import got_request_exception, request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from werkzeug.test import Client

from iam.accounts.models import User
from iam.oauth.services import service_client_create
from iam.tenancy.services import tenant_create
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

MAX_EXAMPLES = int(os.environ.get("IAM_FUZZ_EXAMPLES", "25"))
TRACEBACK_FRAMES = 8
UNLIMITED = "1000000/min"
THROTTLE_SCOPES = (
    "anon",
    "user",
    "refresh_session",
    "login_ip",
    "login_account",
    "account_mail",
    "register_ip",
    "password_check",
    "oauth_ip",
    "mfa_code",
)

_django_app = get_wsgi_application()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The Django WSGI app without closing the test's database connection around each request.

    Django's handler closes "old" connections when a request starts and ends; inside the test's
    transaction that would end it (PostgreSQL). ``django.test.Client`` unhooks the same handler.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = _django_app(environ, start_response)
        try:
            body = b"".join(response)
        finally:
            response.close()  # request_finished
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return [body]


schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")


def error_body_problem(
    status: int, content_type: str, content: bytes, *, method: str, path: str
) -> str | None:
    """What is wrong with a 4xx answer: not JSON, or not ``{"detail": str, "code": str}``.

    The OAuth endpoints may answer with RFC 6749's ``{"error", "error_description"}`` instead.
    """
    if not 400 <= status < 500 or method.upper() == "HEAD":
        return None
    if content_type.split(";")[0].strip() != "application/json":
        return f"{status} answered with Content-Type {content_type!r}, not JSON"
    try:
        body = json.loads(content)
    except ValueError as exc:
        return f"{status} body is not valid JSON ({exc}): {content[:200]!r}"
    if not isinstance(body, dict):
        return f"{status} body is not a JSON object: {body!r}"
    if path.startswith("/api/oauth/") and {"error", "error_description"} <= set(body):
        return None
    if not (isinstance(body.get("detail"), str) and isinstance(body.get("code"), str)):
        return f"{status} body lacks a string detail and code: {body!r}"
    return None


def error_body_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx is a JSON object with ``detail`` and ``code`` (OAuth: or RFC 6749's shape)."""
    problem = error_body_problem(
        response.status_code,
        (response.headers.get("content-type") or [""])[0],
        response.content,
        method=case.method,
        path=case.operation.path,
    )
    assert problem is None, problem


@dataclass
class FuzzContext:
    """The identities the authenticated variant uses, and the server's exceptions per request."""

    user: User
    basic: str
    variant: str = ""
    exceptions: list[BaseException] = field(default_factory=list)

    def bearer(self) -> str:
        """A fresh access token (a new session) for alice in tenant acme."""
        body = {"email": self.user.email, "password": PASSWORD, "transport": "body"}
        response = APIClient().post("/api/auth/login/", {**body, "tenant": "acme"}, format="json")
        assert response.status_code == 200, f"fuzz login failed: {response.content!r}"
        return f"Bearer {response.json()['access']}"

    def on_exception(self, sender: Any, request: Any = None, **kwargs: Any) -> None:
        exception = sys.exc_info()[1]
        if exception is not None:
            self.exceptions.append(exception)

    def server_traceback(
        self, ctx: Any, response: schemathesis.Response, case: schemathesis.Case
    ) -> None:
        """Not a check of its own: puts the server's traceback next to a 5xx failure."""
        if response.status_code < 500:
            return
        raise AssertionError(
            f"{response.status_code} for the {self.variant} request. " + self.server_tracebacks()
        )

    def server_tracebacks(self) -> str:
        frames = [
            "".join(traceback.format_exception(exc, limit=-TRACEBACK_FRAMES)).rstrip()
            for exc in self.exceptions
        ]
        return f"Server traceback (last {TRACEBACK_FRAMES} frames):\n" + (
            "\n\n".join(frames) or "(none raised)"
        )


@pytest.fixture
def fuzz(settings: Any, keys: Any, user: User) -> Iterator[FuzzContext]:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **dict.fromkeys(rates, UNLIMITED),
            **dict.fromkeys(THROTTLE_SCOPES, UNLIMITED),
        },
    }
    settings.IAM_LOCKOUT_FREE_ATTEMPTS = 10**9
    settings.IAM_LOCKOUT_IP_FREE_ATTEMPTS = 10**9
    settings.IAM_MFA_FREE_FAILURES = 10**9
    tenant_create(name="Acme", slug="acme", owner=user)
    client, secret = service_client_create(
        name="fuzz", audiences=["fuzz-api"], scopes=["fuzz:read"], can_introspect=True
    )
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    context = FuzzContext(user=user, basic=f"Basic {basic}")
    got_request_exception.connect(context.on_exception)
    try:
        yield context
    finally:
        got_request_exception.disconnect(context.on_exception)


def _credentials(case: schemathesis.Case, fuzz: FuzzContext) -> str:
    security = case.operation.definition.raw.get("security", [])
    schemes = {name for requirement in security for name in requirement}
    return fuzz.basic if "basicAuth" in schemes else fuzz.bearer()


def _send(case: schemathesis.Case, fuzz: FuzzContext, variant: str, **kwargs: Any) -> None:
    __tracebackhide__ = True
    fuzz.variant = variant
    fuzz.exceptions.clear()
    checks = [not_a_server_error, fuzz.server_traceback, error_body_shape]
    case.call_and_validate(checks=checks, **kwargs)


@schema.parametrize()
@hypothesis.settings(suppress_health_check=list(hypothesis.HealthCheck))
def test_no_server_errors(case: schemathesis.Case, fuzz: FuzzContext) -> None:
    __tracebackhide__ = True
    with transaction.atomic():  # a savepoint per example, rolled back
        _send(case, fuzz, "anonymous (as generated)")
        _send(case, fuzz, "authenticated", headers={"Authorization": _credentials(case, fuzz)})
        transaction.set_rollback(True)


# --- Raw bodies: what a schema-driven generator never sends ---------------------------------
# schemathesis serializes every body it generates, so it never sends broken JSON, a body over the
# size limit or a form to a JSON endpoint. Each operation with a request body gets these, once
# anonymous and once authenticated.

BIG = 80 * 1024  # over DATA_UPLOAD_MAX_MEMORY_SIZE (64 KiB by default)
RAW_BODIES: list[tuple[str, str | None, bytes]] = [
    ("empty JSON", "application/json", b""),
    ("truncated JSON", "application/json", b'{"email": "a@example.com", "pass'),
    ("invalid UTF-8", "application/json", b'{"email": "\xff\xfe@example.com"}'),
    ("lone surrogate", "application/json", b'{"email": "\\ud800@example.com", "name": "\\udfff"}'),
    (
        "NUL characters",
        "application/json",
        b'{"email": "a\\u0000@example.com", "token": "\\u0000"}',
    ),
    ("NaN and Infinity", "application/json", b'{"email": NaN, "password": Infinity}'),
    ("float overflow", "application/json", b'{"email": 1e999, "tenant": -1e999}'),
    ("5000-digit integer", "application/json", b'{"tenant": 1' + b"0" * 5000 + b"}"),
    ("JSON array", "application/json", b"[]"),
    ("JSON string", "application/json", b'"text"'),
    ("JSON null", "application/json", b"null"),
    ("deep nesting", "application/json", b"[" * 50_000),
    ("oversized JSON", "application/json", b'{"email": "' + b"a" * BIG + b'"}'),
    ("JSON as UTF-16", "application/json; charset=utf-16", b'{"email": "a@example.com"}'),
    ("unknown charset", "application/json; charset=x-nope", b'{"email": "a@example.com"}'),
    ("text/plain", "text/plain", b"hello"),
    ("XML", "application/xml", b"<email>a@example.com</email>"),
    ("no Content-Type", None, b'{"email": "a@example.com"}'),
    ("form", "application/x-www-form-urlencoded", b"email=a%40example.com&password=x"),
    ("broken form escapes", "application/x-www-form-urlencoded", b"%zz=%%&grant_type=%ff%00"),
    ("oversized form", "application/x-www-form-urlencoded", b"token=" + b"a" * BIG),
    ("form, 5000 fields", "application/x-www-form-urlencoded", b"&".join([b"a=1"] * 5000)),
    ("multipart without boundary", "multipart/form-data", b"--x\r\n\r\n"),
    ("broken multipart", "multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: x"),
]
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
BODY_OPERATIONS = sorted(
    (operation.method.upper(), operation.path)
    for result in schema.get_all_operations()
    for operation in [result.ok()]
    if "requestBody" in operation.definition.raw
)


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=" ".join)
def test_raw_bodies_are_refused_cleanly(method: str, path: str, fuzz: FuzzContext) -> None:
    url = re.sub(r"\{[^}]+\}", PLACEHOLDER_ID, path)
    security = schema[path][method.lower()].definition.raw.get("security", [])
    basic = any("basicAuth" in requirement for requirement in security)
    failures = []
    for label, content_type, body in RAW_BODIES:
        for variant in ("anonymous", "authenticated"):
            headers = {}
            if variant == "authenticated":
                headers["Authorization"] = fuzz.basic if basic else fuzz.bearer()
            if content_type is not None:
                headers["Content-Type"] = content_type
            fuzz.exceptions.clear()
            with transaction.atomic():
                response = Client(application).open(url, method=method, data=body, headers=headers)
                transaction.set_rollback(True)
            problem = error_body_problem(
                response.status_code,
                response.headers.get("Content-Type", ""),
                response.get_data(),
                method=method,
                path=path,
            )
            if response.status_code >= 500:
                problem = f"{response.status_code}. {fuzz.server_tracebacks()}"
            if problem is not None:
                shown = body if len(body) <= 120 else body[:60] + b"..." + body[-20:]
                failures.append(
                    f"{method} {url} ({variant}, {label}): Content-Type {content_type!r}, "
                    f"body {shown!r} ({len(body)} bytes)\n  -> {problem}"
                )
    assert not failures, f"{len(failures)} raw bodies answered badly:\n\n" + "\n\n".join(failures)


# --- Unicode spellings of existing addresses ---------------------------------------------------
# What the schema never generates: an existing account's address or username spelt with
# other code points that fold to the same text (Kelvin sign, full-width and mathematical
# letters, ligatures, sharp s, invisible default-ignorables, letter case) or that look alike and
# do not (dotted capital I, dotless i). Every account endpoint must answer without a 5xx, in the
# error shape, and the same whether or not an account has the address (no enumeration);
# sign-in and "already a member" must follow the comparison key (``iam.core.identifiers``).


def _equivalents() -> dict[str, list[str]]:
    """For each ASCII character an address is made of, the code points that fold to it."""
    from iam.core.identifiers import identifier_fold

    table: dict[str, list[str]] = {}
    for point in range(0x30000):
        if 0xD800 <= point < 0xE000:
            continue
        char = chr(point)
        folded = identifier_fold(char)
        if len(folded) == 1 and folded.isascii() and (folded.isalnum() or folded in ".-_+@"):
            table.setdefault(folded, []).append(char)
    return table


EQUIVALENTS = _equivalents()
# sharp s (small, capital), the fi and st ligatures
SUBSTRINGS = {"ss": ["\u00df", "\u1e9e"], "fi": ["\ufb01"], "st": ["\ufb06"]}
LOOKALIKES = {"i": ["\u0130", "\u0131"]}  # dotted capital I, dotless i: other letters once folded
IGNORABLES = ["\u00ad", "\u200b", "\u200d", "\ufe0f", "\u2060"]
ACCOUNTS = ["kim.fisk@example.com", "ross.kirk@example.net"]
USERNAMES = {"kim.fisk@example.com": "kimfisk"}


@hypothesis.strategies.composite
def spellings(draw: Any) -> tuple[str, str]:
    """``(an existing address, one of its spellings)``."""
    st = hypothesis.strategies
    address = draw(st.sampled_from(ACCOUNTS))
    out, i = [], 0
    while i < len(address):
        pair = address[i : i + 2]
        if pair in SUBSTRINGS and draw(st.booleans()):
            out.append(draw(st.sampled_from(SUBSTRINGS[pair])))
            i += 2
            continue
        char = address[i]
        choice = draw(st.integers(0, 9))
        if choice < 4 and char.lower() in EQUIVALENTS:
            out.append(draw(st.sampled_from(EQUIVALENTS[char.lower()])))
        elif choice == 4 and char in LOOKALIKES:
            out.append(draw(st.sampled_from(LOOKALIKES[char])))
        elif choice == 5:
            out.append(char + draw(st.sampled_from(IGNORABLES)))
        elif choice == 6:
            out.append(char.upper())
        else:
            out.append(char)
        i += 1
    return address, "".join(out)


def _valid_address(text: str) -> bool:
    from rest_framework.exceptions import ValidationError

    from iam.core.apis import NormalizedEmailField

    try:
        NormalizedEmailField().run_validation(text)
    except ValidationError:
        return False
    return True


def _answer(response: Any) -> tuple[int, Any]:
    """What a caller sees, without the address echoed back."""
    body = response.json() if response.content else None
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "email"}
    return response.status_code, body


def _sound(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content!r}"
    problem = error_body_problem(
        response.status_code,
        response.headers.get("Content-Type", ""),
        response.content,
        method="POST",
        path=what,
    )
    assert problem is None, f"{what}: {problem}"


@pytest.fixture
def spelt(fuzz: FuzzContext) -> dict[str, Any]:
    """Two verified accounts (one a member of acme, owned by alice), and clients for them."""
    from iam.tenancy.models import Membership, Role, Tenant

    accounts = {
        email: User.objects.create_user(
            email=email, password=PASSWORD, username=USERNAMES.get(email), email_verified=True
        )
        for email in ACCOUNTS
    }
    Membership.objects.create(
        tenant=Tenant.objects.get(slug="acme"),
        user=accounts["kim.fisk@example.com"],
        role=Role.objects.get(name="member"),
    )
    return {"accounts": accounts, "owner": fuzz.bearer()}


@hypothesis.given(spelling=spellings())
@hypothesis.settings(
    max_examples=MAX_EXAMPLES * 4,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_spellings_of_existing_addresses(spelt: dict[str, Any], spelling: tuple[str, str]) -> None:
    from iam.core.identifiers import identifier_fold, identifier_key

    address, variant = spelling
    same = identifier_key(variant) == identifier_key(address)
    account = spelt["accounts"][address]
    api = APIClient()
    with transaction.atomic():
        for path, body in (
            ("/api/auth/register/", {"email": variant, "password": "another long passphrase"}),
            ("/api/auth/verify-email/resend/", {"email": variant}),
            ("/api/auth/password/reset/", {"email": variant}),
        ):
            with transaction.atomic():
                taken = api.post(path, body, format="json")
                _sound(taken, path)
                User.objects.filter(pk=account.pk).update(email="moved@example.org")
                free = api.post(path, body, format="json")  # the address has no account now
                _sound(free, path)
                transaction.set_rollback(True)
            assert _answer(taken) == _answer(free), (path, variant)

        for field in ("email", "username"):
            identifier = variant if field == "email" else variant.split("@")[0].replace(".", "")
            body = {field: identifier, "password": PASSWORD, "transport": "body"}
            signed_in = api.post("/api/auth/login/", body, format="json")
            _sound(signed_in, "/api/auth/login/")
            # an identifier is an address when it has an "@" once folded, else a username
            names = address if "@" in identifier_fold(identifier) else USERNAMES.get(address)
            named = names is not None and identifier_key(identifier) == identifier_key(names)
            if named:
                assert signed_in.status_code == 200, (variant, signed_in.content)
                assert signed_in.json()["user"]["id"] == str(account.pk)
            else:
                assert signed_in.status_code in (400, 401), (variant, signed_in.content)

        invited = api.post(
            "/api/tenant/invitations/",
            {"email": variant},
            format="json",
            HTTP_AUTHORIZATION=spelt["owner"],
        )
        _sound(invited, "/api/tenant/invitations/")
        if not _valid_address(variant):  # e.g. a mathematical letter in the local part
            assert invited.status_code == 400, (variant, invited.content)
        elif same and address == "kim.fisk@example.com":  # the member, however spelt
            assert (invited.status_code, invited.json()["code"]) == (409, "already_member")
        else:
            assert invited.status_code == 201, (variant, invited.content)

        moved = api.patch(
            "/api/auth/me/",
            {"email": variant, "current_password": PASSWORD},
            format="json",
            HTTP_AUTHORIZATION=spelt["owner"],
        )
        _sound(moved, "/api/auth/me/")
        assert moved.status_code in (200, 400), (variant, moved.content)
        transaction.set_rollback(True)
