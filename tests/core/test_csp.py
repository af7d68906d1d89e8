"""The IAM's CSP middleware sets exactly the headers Django's does, and builds the policy of a
response without a nonce once per configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.middleware.csp import ContentSecurityPolicyMiddleware as DjangoCSPMiddleware
from django.test import RequestFactory, override_settings
from django.utils.csp import CSP

from iam.core import csp
from iam.core.csp import ContentSecurityPolicyMiddleware

ENFORCE, REPORT_ONLY = str(CSP.HEADER_ENFORCE), str(CSP.HEADER_REPORT_ONLY)
POLICY = {"default-src": [CSP.NONE], "script-src": [CSP.SELF, CSP.NONCE]}
OTHER = {"default-src": [CSP.SELF], "img-src": [CSP.SELF, "data:"]}


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("api")


def with_nonce(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"<script nonce='{request._csp_nonce}'></script>")  # type: ignore[attr-defined]


def own_config(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("own")
    response._csp_config = OTHER  # type: ignore[attr-defined]  # what @csp_override sets
    response._csp_ro_config = POLICY  # type: ignore[attr-defined]
    return response


def own_header(request: HttpRequest) -> HttpResponse:
    return HttpResponse("own", headers={ENFORCE: "default-src 'self'"})


def headers(middleware: type, view: Callable[[HttpRequest], HttpResponse]) -> dict[str, str]:
    request = RequestFactory().get("/")
    response = middleware(view)(request)
    nonce = request._csp_nonce  # type: ignore[attr-defined]
    found = {h: response[h] for h in (ENFORCE, REPORT_ONLY) if h in response}
    # each request has its own nonce: compare the policies with it taken out
    return {h: v.replace(str(nonce), "<nonce>") if nonce else v for h, v in found.items()}


@pytest.mark.parametrize("view", [plain, with_nonce, own_config, own_header])
@pytest.mark.parametrize(
    ("enforce", "report_only"), [(POLICY, {}), (POLICY, OTHER), ({}, OTHER), ({}, {})]
)
def test_every_header_is_djangos(view: Callable, enforce: dict, report_only: dict) -> None:
    with override_settings(SECURE_CSP=enforce, SECURE_CSP_REPORT_ONLY=report_only):
        for _ in range(2):  # built, then from what was built
            ours = headers(ContentSecurityPolicyMiddleware, view)
            assert ours == headers(DjangoCSPMiddleware, view)


def test_the_iams_own_policy_is_djangos(settings: Any) -> None:
    assert headers(ContentSecurityPolicyMiddleware, plain) == headers(DjangoCSPMiddleware, plain)
    assert headers(ContentSecurityPolicyMiddleware, plain)[ENFORCE].startswith("default-src")


def test_a_policy_without_nonce_is_built_once_per_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[Any] = []

    def counted(config: Any, nonce: Any = None) -> str:
        built.append(config)
        return "default-src 'none'"

    monkeypatch.setattr(csp, "build_policy", counted)
    with override_settings(SECURE_CSP=POLICY, SECURE_CSP_REPORT_ONLY={}):
        for _ in range(3):
            headers(ContentSecurityPolicyMiddleware, plain)
        assert built == [POLICY]
        with override_settings(SECURE_CSP=OTHER):  # a new configuration: built again
            assert headers(ContentSecurityPolicyMiddleware, plain)[ENFORCE]
        assert built == [POLICY, OTHER]


def test_a_configuration_changed_in_place_is_built_again() -> None:
    policy = {"default-src": [CSP.NONE], "connect-src": [CSP.SELF]}
    with override_settings(SECURE_CSP=policy, SECURE_CSP_REPORT_ONLY={}):
        assert headers(ContentSecurityPolicyMiddleware, plain)[ENFORCE].endswith("'self'")
        policy["connect-src"].append("https://api.example")
        ours = headers(ContentSecurityPolicyMiddleware, plain)
        assert ours == headers(DjangoCSPMiddleware, plain)
        assert ours[ENFORCE].endswith("https://api.example")


def test_pages_get_their_nonce(settings: Any) -> None:
    """Django's security.W027 looks for its own middleware's path, not a subclass: what it
    checks (the nonce reaches the templates) is checked here."""
    processors = settings.TEMPLATES[0]["OPTIONS"]["context_processors"]
    assert "django.template.context_processors.csp" in processors


def test_the_iam_runs_it(settings: Any) -> None:
    assert "iam.core.csp.ContentSecurityPolicyMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.csp.ContentSecurityPolicyMiddleware" not in settings.MIDDLEWARE
