from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from iam.core.http import client_ip


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.1.1.1", "10.0.0.1"),  # no trusted proxy: the header is ignored
        (1, "6.6.6.6, 2.2.2.2", "2.2.2.2"),  # our proxy appended the real client last
        (2, "6.6.6.6, 3.3.3.3, 10.0.0.5", "3.3.3.3"),
        (2, "3.3.3.3", "10.0.0.1"),  # fewer entries than proxies: fall back to the socket
        (1, "not-an-ip", "10.0.0.1"),
    ],
)
def test_client_ip(proxies, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(IAM_TRUSTED_PROXY_COUNT=proxies):
        assert client_ip(request) == expected
