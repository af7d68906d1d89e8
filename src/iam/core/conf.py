"""Typed access to the IAM's settings.

Values are read from ``django.conf.settings`` once and cached; the cache is dropped whenever a
setting changes (``setting_changed``), so nothing is frozen at import time and tests can override.
JWT settings (issuer, audience, lifetimes, leeway) live in ``SIMPLE_JWT`` only and are read from
SimpleJWT's own ``api_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework_simplejwt.settings import api_settings as jwt_settings


@dataclass(frozen=True, slots=True)
class IAMSettings:
    issuer: str
    audience: str
    access_lifetime: timedelta
    refresh_lifetime: timedelta
    leeway: timedelta
    session_absolute_lifetime: timedelta
    refresh_grace: timedelta
    session_retention: timedelta
    access_cookie_name: str
    refresh_cookie_name: str
    refresh_cookie_path: str
    cookie_domain: str | None
    cookie_secure: bool
    require_email_verification: bool
    signing_key_size: int
    jwks_max_age: int
    key_cache_seconds: int
    token_cache_size: int
    trusted_proxy_count: int
    dev_mode: bool
    key_encryption_keys: tuple[str, ...]
    argon2_time_cost: int
    argon2_memory_cost_kib: int
    argon2_parallelism: int
    product_name: str
    frontend_url: str
    frontend_verify_email_path: str
    frontend_password_reset_path: str
    email_verification_ttl: timedelta
    password_reset_ttl: timedelta
    password_max_length: int
    mail_max_attempts: int
    mail_retry_delay: timedelta
    tenant_base_domain: str
    mail_budget: int
    service_token_lifetime: timedelta
    mail_budget_unsolicited: int
    invitation_ttl: timedelta
    frontend_invitation_path: str
    mfa_totp_issuer: str
    mfa_token_ttl: timedelta
    mfa_token_max_attempts: int
    mfa_revoke_other_sessions: bool
    mfa_reauth_age: timedelta
    notify_new_device: bool
    notify_password_change: bool
    notify_mfa_change: bool
    lockout_free_attempts: int
    lockout_ip_free_attempts: int
    lockout_base_delay: int
    lockout_max_delay: int
    lockout_window: int
    mfa_free_failures: int
    mfa_max_delay: int
    auth_state_cache: str


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(settings, name))


@cache
def get_iam_settings() -> IAMSettings:
    leeway = jwt_settings.LEEWAY
    return IAMSettings(
        issuer=jwt_settings.ISSUER,
        audience=jwt_settings.AUDIENCE,
        access_lifetime=jwt_settings.ACCESS_TOKEN_LIFETIME,
        refresh_lifetime=jwt_settings.REFRESH_TOKEN_LIFETIME,
        leeway=leeway if isinstance(leeway, timedelta) else timedelta(seconds=leeway or 0),
        session_absolute_lifetime=_seconds("IAM_SESSION_ABSOLUTE_LIFETIME"),
        refresh_grace=_seconds("IAM_REFRESH_GRACE_SECONDS"),
        session_retention=_seconds("IAM_SESSION_RETENTION"),
        access_cookie_name=settings.IAM_ACCESS_COOKIE_NAME,
        refresh_cookie_name=settings.IAM_REFRESH_COOKIE_NAME,
        refresh_cookie_path=settings.IAM_REFRESH_COOKIE_PATH,
        cookie_domain=settings.IAM_COOKIE_DOMAIN,
        cookie_secure=settings.IAM_COOKIE_SECURE,
        require_email_verification=settings.IAM_REQUIRE_EMAIL_VERIFICATION,
        signing_key_size=settings.IAM_SIGNING_KEY_SIZE,
        jwks_max_age=settings.IAM_JWKS_MAX_AGE,
        key_cache_seconds=settings.IAM_KEY_CACHE_SECONDS,
        token_cache_size=settings.IAM_TOKEN_CACHE_SIZE,
        trusted_proxy_count=settings.IAM_TRUSTED_PROXY_COUNT,
        dev_mode=settings.IAM_DEV_MODE,
        key_encryption_keys=tuple(settings.IAM_KEY_ENCRYPTION_KEYS),
        argon2_time_cost=settings.IAM_ARGON2_TIME_COST,
        argon2_memory_cost_kib=settings.IAM_ARGON2_MEMORY_COST_KIB,
        argon2_parallelism=settings.IAM_ARGON2_PARALLELISM,
        product_name=settings.IAM_PRODUCT_NAME,
        frontend_url=settings.IAM_FRONTEND_URL.rstrip("/"),
        frontend_verify_email_path=settings.IAM_FRONTEND_VERIFY_EMAIL_PATH,
        frontend_password_reset_path=settings.IAM_FRONTEND_PASSWORD_RESET_PATH,
        email_verification_ttl=_seconds("IAM_EMAIL_VERIFICATION_TTL"),
        password_reset_ttl=_seconds("IAM_PASSWORD_RESET_TTL"),
        password_max_length=settings.IAM_PASSWORD_MAX_LENGTH,
        mail_max_attempts=settings.IAM_MAIL_MAX_ATTEMPTS,
        mail_retry_delay=_seconds("IAM_MAIL_RETRY_DELAY"),
        tenant_base_domain=settings.IAM_TENANT_BASE_DOMAIN.strip(".").lower(),
        mail_budget=settings.IAM_MAIL_BUDGET_PER_ADDRESS,
        service_token_lifetime=_seconds("IAM_SERVICE_TOKEN_LIFETIME"),
        mail_budget_unsolicited=settings.IAM_MAIL_BUDGET_UNSOLICITED,
        invitation_ttl=_seconds("IAM_INVITATION_TTL"),
        frontend_invitation_path=settings.IAM_FRONTEND_INVITATION_PATH,
        mfa_totp_issuer=settings.IAM_MFA_TOTP_ISSUER,
        mfa_token_ttl=_seconds("IAM_MFA_TOKEN_TTL"),
        mfa_token_max_attempts=settings.IAM_MFA_TOKEN_MAX_ATTEMPTS,
        mfa_revoke_other_sessions=settings.IAM_MFA_REVOKE_OTHER_SESSIONS,
        mfa_reauth_age=_seconds("IAM_MFA_REAUTH_AGE"),
        notify_new_device=settings.IAM_NOTIFY_NEW_DEVICE,
        notify_password_change=settings.IAM_NOTIFY_PASSWORD_CHANGE,
        notify_mfa_change=settings.IAM_NOTIFY_MFA_CHANGE,
        lockout_free_attempts=settings.IAM_LOCKOUT_FREE_ATTEMPTS,
        lockout_ip_free_attempts=settings.IAM_LOCKOUT_IP_FREE_ATTEMPTS,
        lockout_base_delay=settings.IAM_LOCKOUT_BASE_DELAY,
        lockout_max_delay=settings.IAM_LOCKOUT_MAX_DELAY,
        lockout_window=settings.IAM_LOCKOUT_WINDOW,
        mfa_free_failures=settings.IAM_MFA_FREE_FAILURES,
        mfa_max_delay=settings.IAM_MFA_MAX_DELAY,
        auth_state_cache=settings.IAM_AUTH_STATE_CACHE,
    )


class _LazyIAMSettings:
    """``iam_settings.issuer`` etc.; always the current values."""

    def __getattr__(self, name: str) -> object:
        return getattr(get_iam_settings(), name)


iam_settings = _LazyIAMSettings()

# Callbacks run after any setting change (e.g. caches built from settings).
_reset_callbacks: list = []


def on_settings_reset(callback: object) -> object:
    """Register a zero-argument callable to run when settings change (decorator)."""
    _reset_callbacks.append(callback)
    return callback


@receiver(setting_changed)
def _reset(**kwargs: object) -> None:
    get_iam_settings.cache_clear()
    for callback in _reset_callbacks:
        callback()
