"""System checks: bad configuration becomes a startup error, not a production surprise."""

from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning, register
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from iam.core.conf import get_iam_settings
from iam.core.metrics import metrics_networks_parse

OWASP_ARGON2_FLOOR = {"memory_cost_kib": 19456, "time_cost": 2, "parallelism": 1}


@register()
def check_iam_settings(app_configs: Any = None, **kwargs: Any) -> list:
    errors: list = []
    conf = get_iam_settings()
    if (
        conf.argon2_memory_cost_kib < OWASP_ARGON2_FLOOR["memory_cost_kib"]
        or conf.argon2_time_cost < OWASP_ARGON2_FLOOR["time_cost"]
        or conf.argon2_parallelism < OWASP_ARGON2_FLOOR["parallelism"]
    ):
        errors.append(
            Error(
                "Argon2 parameters are below the OWASP floor (m=19 MiB, t=2, p=1).",
                hint="Raise IAM_ARGON2_MEMORY_COST_KIB / IAM_ARGON2_TIME_COST / "
                "IAM_ARGON2_PARALLELISM.",
                id="iam.E001",
            )
        )
    if jwt_settings.ALGORITHM != "RS256":
        errors.append(Error("SIMPLE_JWT['ALGORITHM'] must be RS256.", id="iam.E002"))
    if not jwt_settings.ISSUER or not jwt_settings.AUDIENCE:
        errors.append(Error("IAM_ISSUER and IAM_AUDIENCE must be set.", id="iam.E003"))
    for key in conf.key_encryption_keys:
        try:
            Fernet(key.strip().encode())
        except ValueError:
            errors.append(
                Error(
                    "IAM_KEY_ENCRYPTION_KEYS holds a value that is not a Fernet key.",
                    hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                    id="iam.E004",
                )
            )
    if conf.signing_key_size < 2048:
        errors.append(Error("IAM_SIGNING_KEY_SIZE must be at least 2048.", id="iam.E005"))
    if conf.refresh_grace.total_seconds() > 60:
        errors.append(
            Warning("IAM_REFRESH_GRACE_SECONDS above 60 weakens reuse detection.", id="iam.W001")
        )
    if not settings.DEBUG and not conf.cookie_secure:
        errors.append(Error("IAM_COOKIE_SECURE must not be off when DEBUG is off.", id="iam.E006"))
    if not settings.DEBUG:
        mailers = getattr(settings, "MAILERS", {}) or {}
        backend = str(mailers.get("default", {}).get("BACKEND", ""))
        undelivered = (
            "console.EmailBackend",
            "dummy.EmailBackend",
            "filebased.EmailBackend",
            "locmem.EmailBackend",
            "ReadableConsoleBackend",
        )
        if backend.endswith(undelivered):
            errors.append(
                Error(
                    "The mailer prints, stores or drops mail while DEBUG is off: verification "
                    "and reset links would land in a log or a file and never reach anyone.",
                    hint="Set EMAIL_URL (e.g. smtp+tls://user:pass@host:587).",
                    id="iam.E008",
                )
            )
        if not conf.frontend_url.startswith("https://"):
            errors.append(
                Warning(
                    "IAM_FRONTEND_URL is not https: mailed links (with their tokens) would travel "
                    "in clear text.",
                    id="iam.W002",
                )
            )
    origins = list(getattr(settings, "CORS_ALLOWED_ORIGINS", []))
    if getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False) or "*" in origins:
        errors.append(
            Error(
                "CORS with credentials must list its origins: a wildcard would let any site use "
                "a signed-in user's cookies.",
                hint="Set CORS_ALLOWED_ORIGINS to the exact origins of your browser apps.",
                id="iam.E009",
            )
        )
    if getattr(settings, "CORS_ALLOWED_ORIGIN_REGEXES", []):
        errors.append(
            Error("Use CORS_ALLOWED_ORIGINS (exact origins), not patterns.", id="iam.E009")
        )
    errors.extend(_cookie_domain_errors(conf.cookie_domain, conf.issuer))
    plain = [o for o in origins if str(o).lower().startswith("http://")]
    if plain and not settings.DEBUG:
        errors.append(
            Warning(
                f"CORS_ALLOWED_ORIGINS lists plain-HTTP origins ({', '.join(plain)}): whoever "
                "can change their pages on the way (any network in between) can use a "
                "signed-in user's session through them.",
                hint="List only https:// origins in production.",
                id="iam.W003",
            )
        )
    _, invalid = metrics_networks_parse(conf.metrics_allowed_ips)
    errors.extend(
        Error(f"IAM_METRICS_ALLOWED_IPS: {entry!r} is not an address or network.", id="iam.E010")
        for entry in invalid
    )
    if not 64 <= conf.password_max_length <= 4096:
        errors.append(
            Error(
                "IAM_PASSWORD_MAX_LENGTH must be between 64 (NIST SP 800-63B) and 4096.",
                id="iam.E007",
            )
        )
    if not 0 <= conf.password_min_score <= 4:
        errors.append(
            Error(
                "IAM_PASSWORD_MIN_SCORE must be between 0 (no strength estimate) and 4.",
                id="iam.E012",
            )
        )
    return errors


def _cookie_domain_errors(cookie_domain: str | None, issuer: str) -> list:
    """``IAM_COOKIE_DOMAIN`` must cover the IAM's own host: browsers drop every cookie a host
    sets for a domain it does not belong to, and no browser sign-in would ever stick."""
    if not cookie_domain:
        return []
    domain = cookie_domain.strip().lstrip(".").lower()
    host = (urlsplit(issuer).hostname or "").lower()
    if domain and (host == domain or host.endswith(f".{domain}")):
        return []
    return [
        Error(
            f"IAM_COOKIE_DOMAIN ({cookie_domain!r}) does not cover the IAM's host ({host!r}, "
            "from IAM_ISSUER): browsers would refuse every cookie the IAM sets.",
            hint="Set it to the IAM's host or a parent domain of it (iam.example.com or "
            "example.com), or leave it unset for cookies of the IAM's host only.",
            id="iam.E011",
        )
    ]
