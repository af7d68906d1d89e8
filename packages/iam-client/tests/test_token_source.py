"""ClientCredentials: obtains, caches and renews a service token; RFC 6749 errors."""

from __future__ import annotations

import base64
import threading
from urllib.parse import unquote

import pytest
from kit import TOKEN_URL, FakeClock, FakeTokenEndpoint

from iam_client import ClientCredentials, TokenRequestError


@pytest.fixture
def endpoint() -> FakeTokenEndpoint:
    return FakeTokenEndpoint()


@pytest.fixture
def source(endpoint, clock) -> ClientCredentials:
    return ClientCredentials(
        TOKEN_URL,
        "svc_abc",
        "s3cret",
        audience="billing-api",
        scope=["invoices.read", "invoices.write"],
        http_post=endpoint,
        clock=clock,
    )


def test_first_token_is_requested_as_rfc_6749_says(source, endpoint):
    assert source.token() == "token-1"
    url, data, headers = endpoint.requests[0]
    assert url == TOKEN_URL
    assert data == {
        "grant_type": "client_credentials",
        "audience": "billing-api",
        "scope": "invoices.read invoices.write",
    }
    scheme, _, value = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == "svc_abc:s3cret"


def test_no_scope_parameter_when_none_is_asked(endpoint, clock):
    source = ClientCredentials(
        TOKEN_URL, "svc_abc", "s3cret", audience="a", http_post=endpoint, clock=clock
    )
    source.token()
    assert "scope" not in endpoint.requests[0][1]


def test_basic_credentials_are_form_urlencoded_first(endpoint, clock):
    source = ClientCredentials(
        TOKEN_URL, "svc:odd id", "p@ss:w+rd %", audience="a", http_post=endpoint, clock=clock
    )
    source.token()
    value = endpoint.requests[0][2]["Authorization"].split(" ", 1)[1]
    raw_id, _, raw_secret = base64.b64decode(value).decode().partition(":")
    assert (unquote(raw_id), unquote(raw_secret)) == ("svc:odd id", "p@ss:w+rd %")


def test_token_is_cached_until_the_refresh_margin(source, endpoint, clock):
    assert source.token() == "token-1"
    clock.advance(269.9)  # expires_in 300, margin 30
    assert source.token() == "token-1"
    assert source.cached_token() == "token-1"
    assert len(endpoint.requests) == 1

    clock.advance(0.1)
    assert source.cached_token() is None
    assert source.token() == "token-2"
    assert len(endpoint.requests) == 2


def test_short_lived_token_is_renewed_at_half_life(endpoint, clock):
    endpoint.expires_in = 20
    source = ClientCredentials(
        TOKEN_URL, "svc_abc", "s", audience="a", refresh_margin=30, http_post=endpoint, clock=clock
    )
    assert source.token() == "token-1"
    clock.advance(9.9)
    assert source.token() == "token-1"
    clock.advance(0.1)
    assert source.token() == "token-2"


def ok_body(**overrides: object) -> dict:
    return {"access_token": "x", "token_type": "Bearer", "expires_in": 60, **overrides}


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        ((401, {"error": "invalid_client", "error_description": "Nope."}), "invalid_client", 401),
        ((400, {"error": "invalid_scope"}), "invalid_scope", 400),
        ((500, {}), "invalid_response", 500),
        ((200, ok_body(token_type="mac")), "invalid_response", 200),
        ((200, ok_body(access_token="")), "invalid_response", 200),
        ((200, ok_body(expires_in=0)), "invalid_response", 200),
        ((200, ok_body(expires_in=True)), "invalid_response", 200),
        ((200, ok_body(expires_in=None)), "invalid_response", 200),
    ],
)
def test_errors_raise_token_request_error(source, endpoint, answer, error, status):
    endpoint.answer = answer
    with pytest.raises(TokenRequestError) as info:
        source.token()
    assert (info.value.error, info.value.status) == (error, status)


def test_network_failure_is_temporarily_unavailable(clock):
    def down(url, data, headers):
        raise OSError("connection refused")

    source = ClientCredentials(TOKEN_URL, "svc", "s", audience="a", http_post=down, clock=clock)
    with pytest.raises(TokenRequestError) as info:
        source.token()
    assert info.value.error == "temporarily_unavailable"
    assert info.value.status == 0


def test_failed_renewal_keeps_the_still_valid_token(source, endpoint, clock):
    source.token()
    clock.advance(280)  # due for renewal, still valid for 20 s
    endpoint.answer = (503, {"error": "temporarily_unavailable"})
    assert source.token() == "token-1"
    assert source.token() == "token-1"
    assert len(endpoint.requests) == 2  # no retry within retry_interval

    clock.advance(5)
    assert source.token() == "token-1"
    assert len(endpoint.requests) == 3

    clock.advance(15)  # expired now: the error surfaces
    with pytest.raises(TokenRequestError):
        source.token()

    endpoint.answer = None
    assert source.token() == "token-5"


def test_concurrent_callers_share_one_fetch(endpoint):
    endpoint.delay = 0.05
    source = ClientCredentials(TOKEN_URL, "svc", "s", audience="a", http_post=endpoint)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(source.token())) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["token-1"] * 10
    assert len(endpoint.requests) == 1


def test_invalidate_drops_only_the_named_token(source, endpoint):
    assert source.token() == "token-1"
    source.invalidate("some-older-token")
    assert source.token() == "token-1"
    source.invalidate("token-1")
    assert source.token() == "token-2"
    source.invalidate()
    assert source.token() == "token-3"


def test_repr_never_shows_the_secret(source):
    assert "s3cret" not in repr(source)
    assert "svc_abc" in repr(source)


def test_configuration_is_checked():
    with pytest.raises(ValueError, match="http"):
        ClientCredentials("ftp://iam/token", "svc", "s", audience="a")
    with pytest.raises(ValueError, match="required"):
        ClientCredentials(TOKEN_URL, "svc", "", audience="a")


def test_clock_default_is_real_time(endpoint):
    source = ClientCredentials(TOKEN_URL, "svc", "s", audience="a", http_post=endpoint)
    assert source.token() == source.token() == "token-1"
    assert isinstance(FakeClock()(), float)


def test_non_json_success_body_is_invalid_response(clock):
    source = ClientCredentials(
        TOKEN_URL, "svc", "s", audience="a", http_post=lambda *a: (200, ["x"]), clock=clock
    )
    with pytest.raises(TokenRequestError) as info:
        source.token()
    assert info.value.error == "invalid_response"
