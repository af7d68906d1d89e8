"""Signing-key lifecycle: create, rotate without downtime, prune."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import transaction
from django.utils import timezone

from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core import crypto
from iam.core.conf import iam_settings
from iam.core.exceptions import SigningKeyUnavailable
from iam.tokens.keys import key_ring_clear, public_jwk, signing_key
from iam.tokens.models import SigningKey

log = logging.getLogger("iam.keys")
State = SigningKey.State


@dataclass
class RotationReport:
    created: list[str] = field(default_factory=list)
    activated: str | None = None
    retired: str | None = None
    removed: list[str] = field(default_factory=list)
    waiting: str | None = None  # the next key is not yet old enough to be promoted


def prepublish_period() -> timedelta:
    """How long a next key is published before it may sign: the longest a verifier caches JWKS."""
    return timedelta(seconds=iam_settings.jwks_max_age + iam_settings.key_cache_seconds)


def retired_publish_period() -> timedelta:
    """How long a retired key stays published: until every token it signed has expired.

    Other processes may sign with it until their key ring reloads, hence the cache period on top.
    """
    longest = max(iam_settings.access_lifetime, iam_settings.refresh_lifetime)
    return longest + iam_settings.leeway + timedelta(seconds=iam_settings.key_cache_seconds)


def signing_key_current() -> tuple[str, rsa.RSAPrivateKey]:
    """The active ``(kid, private key)`` tokens are signed with. In dev mode the first key is
    created on demand; otherwise ``SigningKeyUnavailable`` until an operator rotates one in."""
    try:
        return signing_key()
    except SigningKeyUnavailable:
        if not iam_settings.dev_mode:
            raise
    log.warning("DEBUG mode: no signing key yet; creating the first one.")
    signing_keys_rotate()
    return signing_key()


def signing_key_create(*, state: str, now: datetime | None = None) -> SigningKey:
    private_key = rsa.generate_private_key(
        public_exponent=65537, key_size=iam_settings.signing_key_size
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = public_jwk(private_key.public_key())
    now = now or timezone.now()
    return SigningKey.objects.create(
        kid=jwk["kid"],
        state=state,
        public_jwk=jwk,
        private_key_encrypted=crypto.encrypt(pem),
        activated_at=now if state == State.ACTIVE else None,
    )


def _remove(key: SigningKey, now: datetime) -> None:
    key.state = State.REMOVED
    key.removed_at = now
    key.private_key_encrypted = b""  # the private half is destroyed, not just hidden
    key.save(update_fields=["state", "removed_at", "private_key_encrypted"])


def signing_keys_prune(*, now: datetime | None = None) -> list[str]:
    """Remove retired keys whose every token has expired."""
    now = now or timezone.now()
    removed = []
    for key in SigningKey.objects.filter(state=State.RETIRED, publish_until__lte=now):
        _remove(key, now)
        removed.append(key.kid)
    return removed


def signing_keys_rotate(*, force: bool = False, now: datetime | None = None) -> RotationReport:
    """One rotation step; safe to run on a schedule and from several hosts.

    - no active key: promote the next key, or create an active key (bootstrap);
    - a next key published for at least the prepublish period (or ``force``): it becomes active and
      the active key retires (still published until its tokens expire);
    - always leave a next key published, so verifiers know it before it signs;
    - retired keys past their publication window are removed.
    """
    with transaction.atomic():
        report = _rotate(force=force, now=now or timezone.now())
    key_ring_clear()  # this process at once; the others on their next reload or unknown kid
    return report


def _rotate(*, force: bool, now: datetime) -> RotationReport:
    report = RotationReport()
    keys = {k.state: k for k in SigningKey.objects.select_for_update().exclude(state=State.REMOVED)}
    report.removed = signing_keys_prune(now=now)
    active, upcoming = keys.get(State.ACTIVE), keys.get(State.NEXT)

    promote = upcoming is not None and (
        active is None or force or upcoming.created_at <= now - prepublish_period()
    )
    if active is not None and upcoming is not None and not promote:
        report.waiting = upcoming.kid
    if active is not None and (promote or (force and upcoming is None)):
        active.state = State.RETIRED
        active.retired_at = now
        active.publish_until = now + retired_publish_period()
        active.save(update_fields=["state", "retired_at", "publish_until"])
        report.retired = active.kid
    if promote:
        assert upcoming is not None  # promote says so
        upcoming.state = State.ACTIVE
        upcoming.activated_at = now
        upcoming.save(update_fields=["state", "activated_at"])
        report.activated, upcoming = upcoming.kid, None
    elif active is None or (force and report.retired):
        fresh = signing_key_create(state=State.ACTIVE, now=now)
        report.created.append(fresh.kid)
        report.activated = fresh.kid
    if upcoming is None:
        report.created.append(signing_key_create(state=State.NEXT, now=now).kid)

    audit_record(
        event=AuditEventType.SIGNING_KEY_ROTATED,
        data={
            "activated": report.activated,
            "retired": report.retired,
            "created": report.created,
            "removed": report.removed,
            "forced": force,
        },
    )
    return report


def signing_key_revoke(*, kid: str, now: datetime | None = None) -> None:
    """Emergency: stop publishing a key at once (e.g. it leaked). Its tokens stop verifying."""
    now = now or timezone.now()
    key = SigningKey.objects.get(kid=kid)
    if key.state == State.ACTIVE:
        signing_keys_rotate(force=True, now=now)
        key.refresh_from_db()
    _remove(key, now)
    key_ring_clear()
