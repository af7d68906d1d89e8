"""Small HTTP helpers: the client's address and user agent, decided in one place."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.http import HttpRequest

from iam.core.conf import iam_settings

USER_AGENT_MAX = 512


def _valid_ip(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1
    return str(address)


def ip_bucket(ip: str | None) -> str:
    """What per-IP limits count by: an IPv4 address, or the /64 an IPv6 address is in (one
    client owns a whole /64 and could take a new address for every request)."""
    if not ip:
        return "unknown"
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return ip


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP: the socket peer, or the address the N-th trusted proxy saw.

    With ``IAM_TRUSTED_PROXY_COUNT = N`` the N right-most ``X-Forwarded-For`` entries were appended
    by our proxies; the entry just left of them is the client. Anything further left is
    client-controlled and ignored, so a spoofed header cannot choose the address.
    """
    remote = _valid_ip(request.META.get("REMOTE_ADDR", ""))
    proxies = iam_settings.trusted_proxy_count
    if proxies <= 0:
        return remote
    forwarded = [p for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if len(forwarded) < proxies:
        return remote
    return _valid_ip(forwarded[-proxies]) or remote


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a request came from, as services record it (audit rows, sessions, challenges)."""

    ip: str | None
    user_agent: str


NO_CLIENT = ClientInfo(ip=None, user_agent="")  # operators' commands and admin actions


def client_info(request: HttpRequest) -> ClientInfo:
    return ClientInfo(ip=client_ip(request), user_agent=user_agent(request))
