"""The API's content negotiation answers exactly as DRF's does, and answers the common
``Accept`` headers without building ``request.headers`` (what makes it cheaper)."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404
from django.test import RequestFactory
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIClient

from iam.core.negotiation import JSONFirstNegotiation

ACCEPTS = [
    None,
    "",
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/json;q=0.5",
    "text/html",
    "text/html, */*",
    "text/html, application/json;q=0.9",
    "application/*",
    "application/xml",
    " application/json",
    "application/json, text/html",
    "*/*; q=0.1",
    "APPLICATION/JSON",
]
RENDERER_LISTS = [
    [JSONRenderer],
    [JSONRenderer, BrowsableAPIRenderer],
    [BrowsableAPIRenderer, JSONRenderer],
    [OpenApiYamlRenderer, OpenApiJsonRenderer],
]


def drf_request(accept: str | None, query: str = "") -> Request:
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(RequestFactory().get("/api/x/" + (f"?{query}" if query else ""), **extra))


def outcome(negotiation: Any, request: Request, renderers: list, suffix: str | None) -> Any:
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
    except (NotAcceptable, Http404) as exc:
        return type(exc)
    return type(renderer), media_type


@pytest.mark.parametrize("renderer_classes", RENDERER_LISTS, ids=lambda r: r[0].__name__)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_every_answer_is_drfs(renderer_classes, accept) -> None:
    renderers = [cls() for cls in renderer_classes]
    for query in ["", "format=json", "format=api", "format=xml", "a=1"]:
        for suffix in [None, "json", "api", "xml"]:
            ours = outcome(JSONFirstNegotiation(), drf_request(accept, query), renderers, suffix)
            drfs = outcome(
                DefaultContentNegotiation(), drf_request(accept, query), renderers, suffix
            )
            assert ours == drfs, (query, suffix)


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_the_common_headers_are_answered_without_the_headers_mapping(accept) -> None:
    request = drf_request(accept)
    renderer, media_type = JSONFirstNegotiation().select_renderer(request, [JSONRenderer()])
    assert (type(renderer), media_type) == (JSONRenderer, "application/json")
    assert "headers" not in request._request.__dict__  # Django's cached_property never ran


def test_the_api_uses_it_and_still_refuses_what_it_cannot_render(db: Any) -> None:
    client = APIClient()
    assert client.get("/healthz", HTTP_ACCEPT="application/json").status_code == 200
    refused = client.get("/healthz", HTTP_ACCEPT="text/html")
    assert refused.status_code == 406
    assert refused.json()["code"] == "not_acceptable"
    assert client.get("/healthz", HTTP_ACCEPT="").status_code == 406  # as DRF: nothing accepted
