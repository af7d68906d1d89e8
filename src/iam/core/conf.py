"""Typed access to the IAM's settings: ``iam_settings.<name>``.

The settings are declared once, in ``iam.core.settings_table`` (environment variable, type,
default, documentation). Values are read from ``django.conf.settings`` at first use and cached;
the cache is dropped whenever a setting changes (``setting_changed``), so nothing is frozen at
import time and tests can override. JWT settings (issuer, audience, lifetimes, leeway) live in
``SIMPLE_JWT`` only and are read from SimpleJWT's own ``api_settings``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from iam.core.settings_table import IAMSettings

iam_settings = IAMSettings()


def get_iam_settings() -> IAMSettings:
    return iam_settings


# Callbacks run after any setting change (e.g. caches built from settings).
_reset_callbacks: list[Callable[[], object]] = []


def on_settings_reset[F: Callable[[], object]](callback: F) -> F:
    """Register a zero-argument callable to run when settings change (decorator)."""
    _reset_callbacks.append(callback)
    return callback


@receiver(setting_changed)
def _reset(**kwargs: Any) -> None:
    iam_settings.reset()
    for callback in _reset_callbacks:
        callback()
