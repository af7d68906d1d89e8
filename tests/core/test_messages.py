"""The IAM's message middleware answers as Django's does (messages added, carried to the next
request, read and cleared), and makes no store for a request that never uses one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils.functional import empty

from iam.core.messages import MessageMiddleware

pytestmark = pytest.mark.django_db


def adds(request: HttpRequest) -> HttpResponse:
    messages.info(request, "saved")
    messages.warning(request, "but not everywhere")
    return HttpResponse("ok")


def reads(request: HttpRequest) -> HttpResponse:
    return HttpResponse("|".join(str(m) for m in messages.get_messages(request)))


def ignores(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def serve(middleware: type, view: Callable, cookies: dict[str, str]) -> tuple[Any, HttpRequest]:
    request = RequestFactory().get("/admin/")
    request.COOKIES.update(cookies)
    response = SessionMiddleware(middleware(view))(request)
    return response, request


def outcome(middleware: type, view: Callable, cookies: dict[str, str]) -> tuple[Any, ...]:
    response, _ = serve(middleware, view, cookies)
    cookie = response.cookies.get("messages")
    return response.content, cookie.value if cookie else None, cookie["max-age"] if cookie else None


def test_messages_travel_as_with_djangos_middleware() -> None:
    added = outcome(MessageMiddleware, adds, {})
    assert added == outcome(DjangoMessageMiddleware, adds, {})
    carried = {"messages": added[1]}
    assert added[1]  # the messages ride in the cookie to the next request
    read = outcome(MessageMiddleware, reads, carried)
    assert read == outcome(DjangoMessageMiddleware, reads, carried)
    assert read[0] == b"saved|but not everywhere"
    assert read[1] == ""  # read once: the cookie is cleared
    kept = outcome(MessageMiddleware, ignores, carried)
    assert kept == outcome(DjangoMessageMiddleware, ignores, carried)
    assert kept[1] is None  # not read: still there for a later request


def test_a_request_that_never_uses_messages_makes_no_store() -> None:
    response, request = serve(MessageMiddleware, ignores, {})
    assert request._messages._wrapped is empty
    assert "messages" not in response.cookies


def test_the_iam_runs_it(settings: Any) -> None:
    assert "iam.core.messages.MessageMiddleware" in settings.MIDDLEWARE
    assert "django.contrib.messages.middleware.MessageMiddleware" not in settings.MIDDLEWARE
