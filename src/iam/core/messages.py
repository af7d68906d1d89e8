"""Django's message framework, with the message store made when something first uses it.

Django's ``MessageMiddleware`` makes a store on every request (a cookie store with its signer
and a session store) and asks it to save itself on every response. The API never uses it; the
admin and the hosted pages do. Made on first use, it costs the API nothing: about 70 k
instructions of a request (``docs/performance.md``, issue 17, seventh pass). A store that was
never made has nothing to save: Django's store saves only what was added or read. (Made on first
use, one request's store could be made twice if two threads used it first at the same moment;
the IAM uses messages in the admin's and the pages' synchronous views only.)
"""

from __future__ import annotations

from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty


class MessageMiddleware(DjangoMessageMiddleware):
    """``request._messages`` is the store, made on first use; the response saves a store that
    was made, as Django's middleware does."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        store = getattr(request, "_messages", None)
        if isinstance(store, SimpleLazyObject) and store._wrapped is empty:
            return response  # never used: nothing added, nothing read, nothing to save
        return super().process_response(request, response)
