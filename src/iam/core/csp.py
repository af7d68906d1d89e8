"""Django's Content-Security-Policy middleware, with the policy of a response that uses no
nonce built once per configuration instead of on every response.

Django builds the header from ``SECURE_CSP`` on every response (about 50 k instructions of a
request: ``docs/performance.md``, issue 17, seventh pass). Without a nonce (the API, every
response whose page did not ask for one) the header depends on the configuration alone. A
response with a nonce, or with a view's own configuration (``csp_override`` and friends), is
Django's own path. ``tests/core/test_csp.py`` holds the headers equal to Django's.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csp import ContentSecurityPolicyMiddleware as DjangoCSPMiddleware
from django.middleware.csp import get_nonce
from django.utils.csp import CSP, build_policy

# header -> (a copy of the configuration it was built from, the header's value)
_built: dict[str, tuple[Any, str]] = {}


def _policy(header: str, config: Any) -> str:
    """The header for ``config``, built again whenever the configuration differs from the one
    it was built from (another object, or the same one changed in place)."""
    cached = _built.get(header)
    if cached is not None and cached[0] == config:
        return cached[1]
    value = build_policy(config)
    _built[header] = (copy.deepcopy(config), value)
    return value


class ContentSecurityPolicyMiddleware(DjangoCSPMiddleware):
    """Django's middleware; a response without a nonce and without a view's own
    configuration gets the policy built once for ``SECURE_CSP`` (and for
    ``SECURE_CSP_REPORT_ONLY``)."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            get_nonce(request)  # generated: the header carries it
            or hasattr(response, "_csp_config")
            or hasattr(response, "_csp_ro_config")
        ):
            return super().process_response(request, response)
        for header, config in (
            (CSP.HEADER_ENFORCE, settings.SECURE_CSP),
            (CSP.HEADER_REPORT_ONLY, settings.SECURE_CSP_REPORT_ONLY),
        ):
            if config and header not in response:
                response.headers[str(header)] = _policy(str(header), config)
        return response
