"""Service tokens by the client-credentials grant (RFC 6749 §4.4), cached and renewed early.

    source = ClientCredentials(
        "https://iam.example.com/api/oauth/token/", client_id, client_secret,
        audience="billing-api", scope="invoices.read",
    )
    headers = {"Authorization": f"Bearer {source.token()}"}

``token()`` returns the cached token until ``refresh_margin`` seconds before it expires, then
fetches a new one (one fetch at a time; other threads wait for it). If renewing fails while the
current token is still valid, the current token is returned and renewing is retried after
``retry_interval`` seconds. ``ClientCredentialsAuth`` (``iam_client.contrib.httpx``) plugs a
source into httpx.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from iam_client import _http
from iam_client.errors import TokenRequestError

__all__ = ["ClientCredentials", "ServiceToken"]

log = logging.getLogger("iam_client.token_source")

HttpPost = Callable[[str, dict[str, str], dict[str, str]], tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ServiceToken:
    """One obtained token and when to stop using (``expires_at``) and renew (``renew_at``) it."""

    value: str
    scope: str
    expires_at: float
    renew_at: float


class ClientCredentials:
    """Obtains, caches and renews a service access token for one audience."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        audience: str,
        scope: str | Iterable[str] | None = None,
        refresh_margin: float = 30,
        retry_interval: float = 5,
        http_post: HttpPost | None = None,
        http_timeout: float = _http.DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if http_post is None:
            _http.check_http_url(token_url)
        if not client_id or not client_secret or not audience:
            raise ValueError("client_id, client_secret and audience are required")
        self.token_url = token_url
        self.client_id = client_id
        self.audience = audience
        self.scope = scope if scope is None or isinstance(scope, str) else " ".join(scope)
        self.refresh_margin = float(refresh_margin)
        self.retry_interval = float(retry_interval)
        self._authorization = "Basic " + base64.b64encode(
            # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding
            f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
        ).decode("ascii")
        self._http_post = http_post
        self._http_timeout = http_timeout
        self._clock = clock
        self._current: ServiceToken | None = None
        self._retry_at = float("-inf")
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"ClientCredentials({self.client_id!r}, audience={self.audience!r})"

    def token(self) -> str:
        """A valid access token, fetching one when there is none or it is due for renewal.
        Raises ``TokenRequestError`` when none can be had."""
        current = self._current
        if current is not None and self._clock() < current.renew_at:
            return current.value
        with self._lock:
            current, now = self._current, self._clock()
            if current is not None and now < current.renew_at:
                return current.value  # another thread renewed it while we waited
            if current is not None and now < current.expires_at and now < self._retry_at:
                return current.value  # renewal failed a moment ago; still valid
            try:
                self._current = self._request(now)
            except TokenRequestError as exc:
                if current is None or now >= current.expires_at:
                    raise
                self._retry_at = now + self.retry_interval
                log.warning("Renewing the service token failed (%s); using the current one", exc)
                return current.value
            return self._current.value

    def cached_token(self) -> str | None:
        """The current token if it is not due for renewal (never any I/O), else None."""
        current = self._current
        if current is not None and self._clock() < current.renew_at:
            return current.value
        return None

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is ``token``, when given): the next ``token()``
        fetches a new one. Call it when a service answered 401 to the token."""
        with self._lock:
            if self._current is not None and (token is None or self._current.value == token):
                self._current = None
                self._retry_at = float("-inf")

    # -- internals -------------------------------------------------------------------------

    def _request(self, started: float) -> ServiceToken:
        data = {"grant_type": "client_credentials", "audience": self.audience}
        if self.scope:
            data["scope"] = self.scope
        headers = {"Authorization": self._authorization}
        body: Any  # whatever JSON the endpoint answered
        try:
            if self._http_post is not None:
                status, body = self._http_post(self.token_url, data, headers)
            else:
                status, body = _http.post_form(
                    self.token_url, data, headers, timeout=self._http_timeout
                )
        except Exception as exc:
            raise TokenRequestError("temporarily_unavailable", str(exc)) from exc
        if not isinstance(body, dict):
            body = {}
        if status != 200:
            error, description = body.get("error"), body.get("error_description", "")
            raise TokenRequestError(
                error if isinstance(error, str) else "invalid_response",
                description if isinstance(description, str) else "",
                status,
            )
        access_token = body.get("access_token")
        token_type = body.get("token_type")
        expires_in = body.get("expires_in")
        if (
            not isinstance(access_token, str)
            or not access_token
            or not isinstance(token_type, str)
            or token_type.lower() != "bearer"
            or isinstance(expires_in, bool)
            or not isinstance(expires_in, int | float)
            or not expires_in > 0
        ):
            raise TokenRequestError("invalid_response", "Malformed token response.", status)
        # Timed from before the request: the token cannot outlive what we believe.
        margin = min(self.refresh_margin, expires_in / 2)
        scope = body.get("scope")
        return ServiceToken(
            value=access_token,
            scope=scope if isinstance(scope, str) else "",
            expires_at=started + expires_in,
            renew_at=started + expires_in - margin,
        )
