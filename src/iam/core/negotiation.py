"""Content negotiation for the JSON API: DRF's outcome, without parsing the ``Accept`` header
nearly every client sends.

DRF's ``DefaultContentNegotiation`` reads ``Accept`` through ``request.headers`` (a mapping of
every request header, built for the purpose) and parses it into media types on every request:
about 60 k instructions of a ``GET /api/auth/me/``, and 140 k of ``/healthz``, which nothing
else asks for its headers (``docs/performance.md``, issue 17, seventh pass).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

JSON = "application/json"
# Accept headers whose answer is the first renderer, when that renderer is JSON: no header at all
# (DRF reads it as */*), */*, and application/json without parameters
ANSWERED_BY_FIRST_JSON_RENDERER = frozenset({"*/*", JSON})


class JSONFirstNegotiation(DefaultContentNegotiation):
    """DRF's negotiation. The common case is answered before parsing: a view whose first
    renderer is JSON, a request with no ``Accept`` header or exactly ``*/*`` or
    ``application/json``, no query string (DRF's ``?format=`` override lives there) and no
    format suffix. DRF answers that case with the first renderer and ``application/json``; so
    does this. Anything else (other media types, parameters, several types, an empty header:
    406 included) is DRF's own negotiation."""

    def select_renderer(
        self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)  # DRF passes a list; the stubs allow any iterable
        if renderers and format_suffix is None and renderers[0].media_type == JSON:
            meta = request.META
            accept = meta.get("HTTP_ACCEPT")
            if (accept is None or accept in ANSWERED_BY_FIRST_JSON_RENDERER) and not meta.get(
                "QUERY_STRING"
            ):
                return renderers[0], JSON
        return super().select_renderer(request, renderers, format_suffix)
