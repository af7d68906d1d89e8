"""What a user agent string is, for people ("Firefox 128 on Ubuntu"): shown in the session list,
the security log and the new-device notice."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from ua_parser import parse

UNKNOWN = "Other"  # ua-parser's own name for "not recognised"


class _Device(NamedTuple):
    browser: str
    os: str
    device: str
    label: str


def _with_version(family: str, *parts: str | None) -> str:
    version = ".".join(p for p in parts if p)
    return f"{family} {version}" if version else family


@lru_cache(maxsize=1024)
def _describe(user_agent: str) -> _Device:
    result = parse(user_agent)
    agent, os, device = result.user_agent, result.os, result.device
    browser = _with_version(agent.family, agent.major) if agent else UNKNOWN
    os_name = _with_version(os.family, os.major, os.minor) if os else UNKNOWN
    device_name = device.family if device else UNKNOWN
    known = [name for name in (browser, os_name) if name != UNKNOWN]
    label = " on ".join(known) if known else "Unknown device"
    return _Device(browser=browser, os=os_name, device=device_name, label=label)


def device_describe(user_agent: str) -> dict[str, Any]:
    """What a user agent string is, for people: ``{"browser": "Firefox 128", "os": "Ubuntu",
    "device": "Other", "label": "Firefox 128 on Ubuntu"}``. Parts ua-parser does not recognise
    are ``"Other"``; ``label`` leaves them out (``"Unknown device"`` when nothing is known).
    Parsing is slow (regexes), so results are cached per string."""
    return _describe(user_agent or "")._asdict()


@extend_schema_serializer(component_name="SessionDevice")
class DeviceSerializer(serializers.Serializer):
    """What the session's user agent is, for people."""

    browser = serializers.CharField(help_text='"Firefox 128"; "Other" when not recognised')
    os = serializers.CharField(help_text='"Ubuntu", "Windows 10", "iOS 17.5"; or "Other"')
    device = serializers.CharField(help_text='"iPhone", "Pixel 8"; "Other" for most computers')
    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label
        help_text='"Firefox 128 on Ubuntu"; "Unknown device"'
    )

    def to_representation(self, instance: str) -> dict[str, Any]:
        return device_describe(instance)
