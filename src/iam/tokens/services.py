"""Signing-key lifecycle: create, rotate without downtime, prune; both families (RS256 for
access tokens, HS256 for refresh tokens) in every step, each on its own schedule."""

from __future__ import annotations

import logging
import secrets
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
from iam.tokens.keys import key_ring_clear, public_jwk, refresh_signing_secret, signing_key
from iam.tokens.models import SigningKey

log = logging.getLogger("iam.keys")
State = SigningKey.State
Algorithm = SigningKey.Algorithm
HS256_SECRET_BYTES = 32  # RFC 7518 §3.2: a key of at least the hash's size (256 bits)


@dataclass
class RotationReport:
    """What one rotation step did, over both families (kids of either)."""

    created: list[str] = field(default_factory=list)
    activated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # next keys not yet old enough to promote


def prepublish_period() -> timedelta:
    """How long a next key is published before it may sign: the longest a verifier caches JWKS."""
    return timedelta(seconds=iam_settings.jwks_max_age + iam_settings.key_cache_seconds)


def retired_publish_period(algorithm: str = Algorithm.RS256) -> timedelta:
    """How long a retired key stays accepted (and an RS256 key published): until every token it
    signed has expired. RS256 keys sign access and service tokens, HS256 keys refresh tokens.

    Other processes may sign with it until their key ring reloads, hence the cache period on top.
    """
    if algorithm == Algorithm.HS256:
        longest = iam_settings.refresh_lifetime
    else:
        longest = max(iam_settings.access_lifetime, iam_settings.service_token_lifetime)
    return longest + iam_settings.leeway + timedelta(seconds=iam_settings.key_cache_seconds)


def signing_key_current() -> tuple[str, rsa.RSAPrivateKey]:
    """The active ``(kid, private key)`` tokens are signed with. In dev mode the first key is
    created on demand; otherwise ``SigningKeyUnavailable`` until an operator rotates one in."""
    try:
        return signing_key()
    except SigningKeyUnavailable:
        if not iam_settings.dev_mode:
            raise
    log.warning("DEBUG mode: no signing key yet; creating the first ones.")
    signing_keys_rotate()
    return signing_key()


def refresh_signing_secret_current() -> tuple[str, bytes]:
    """The active HS256 ``(kid, secret)`` refresh tokens are signed with; made on demand in dev
    mode like the RS256 key, else ``SigningKeyUnavailable`` until an operator rotates one in."""
    try:
        return refresh_signing_secret()
    except SigningKeyUnavailable:
        if not iam_settings.dev_mode:
            raise
    log.warning("DEBUG mode: no refresh-token secret yet; creating the first one.")
    signing_keys_rotate(algorithm=Algorithm.HS256)
    return refresh_signing_secret()


def signing_key_create(
    *, state: str, now: datetime | None = None, algorithm: str = Algorithm.RS256
) -> SigningKey:
    now = now or timezone.now()
    activated_at = now if state == State.ACTIVE else None
    if algorithm == Algorithm.HS256:
        # a random kid: it says nothing about the secret, and never looks like a JWK thumbprint
        return SigningKey.objects.create(
            kid=f"hs256-{crypto.random_id(18)}",
            state=state,
            algorithm=Algorithm.HS256,
            public_jwk={},
            private_key_encrypted=crypto.encrypt(secrets.token_bytes(HS256_SECRET_BYTES)),
            activated_at=activated_at,
        )
    private_key = rsa.generate_private_key(
        public_exponent=65537, key_size=iam_settings.signing_key_size
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = public_jwk(private_key.public_key())
    return SigningKey.objects.create(
        kid=jwk["kid"],
        state=state,
        algorithm=Algorithm.RS256,
        public_jwk=jwk,
        private_key_encrypted=crypto.encrypt(pem),
        activated_at=activated_at,
    )


def _remove(key: SigningKey, now: datetime) -> None:
    key.state = State.REMOVED
    key.removed_at = now
    key.private_key_encrypted = b""  # the private half is destroyed, not just hidden
    key.save(update_fields=["state", "removed_at", "private_key_encrypted"])


def signing_keys_prune(*, now: datetime | None = None, algorithm: str | None = None) -> list[str]:
    """Remove retired keys whose every token has expired."""
    now = now or timezone.now()
    removed = []
    retired = SigningKey.objects.filter(state=State.RETIRED, publish_until__lte=now)
    if algorithm is not None:
        retired = retired.filter(algorithm=algorithm)
    for key in retired:
        _remove(key, now)
        removed.append(key.kid)
    return removed


def signing_keys_rotate(
    *, force: bool = False, now: datetime | None = None, algorithm: str | None = None
) -> RotationReport:
    """One rotation step of each family (or of ``algorithm`` only); safe to run on a schedule
    and from several hosts.

    - no active key: promote the next key, or create an active key (bootstrap);
    - a next key known for at least the prepublish period (or ``force``): it becomes active and
      the active key retires (still accepted, and published for RS256, until its tokens expire);
    - always leave a next key, so every process knows it before it signs;
    - retired keys past their window are removed.
    """
    now = now or timezone.now()
    report = RotationReport()
    with transaction.atomic():
        for family in Algorithm.values if algorithm is None else [algorithm]:
            _rotate(force=force, now=now, algorithm=family, report=report)
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
    key_ring_clear()  # this process at once; the others on their next reload or unknown kid
    return report


def _rotate(*, force: bool, now: datetime, algorithm: str, report: RotationReport) -> None:
    keys = {
        k.state: k
        for k in SigningKey.objects.select_for_update()
        .filter(algorithm=algorithm)
        .exclude(state=State.REMOVED)
    }
    report.removed += signing_keys_prune(now=now, algorithm=algorithm)
    active, upcoming = keys.get(State.ACTIVE), keys.get(State.NEXT)

    promote = upcoming is not None and (
        active is None or force or upcoming.created_at <= now - prepublish_period()
    )
    if active is not None and upcoming is not None and not promote:
        report.waiting.append(upcoming.kid)
    if active is not None and (promote or (force and upcoming is None)):
        active.state = State.RETIRED
        active.retired_at = now
        active.publish_until = now + retired_publish_period(algorithm)
        active.save(update_fields=["state", "retired_at", "publish_until"])
        report.retired.append(active.kid)
    if promote:
        assert upcoming is not None  # promote says so
        upcoming.state = State.ACTIVE
        upcoming.activated_at = now
        upcoming.save(update_fields=["state", "activated_at"])
        report.activated.append(upcoming.kid)
        upcoming = None
    elif active is None or (force and active.state == State.RETIRED):
        fresh = signing_key_create(state=State.ACTIVE, now=now, algorithm=algorithm)
        report.created.append(fresh.kid)
        report.activated.append(fresh.kid)
    if upcoming is None:
        report.created.append(
            signing_key_create(state=State.NEXT, now=now, algorithm=algorithm).kid
        )


def signing_key_revoke(*, kid: str, now: datetime | None = None) -> None:
    """Emergency: stop accepting (and publishing) a key at once, e.g. it leaked. Every token it
    signed stops verifying: for an HS256 key, every refresh token it signed (their sessions must
    sign in again)."""
    now = now or timezone.now()
    key = SigningKey.objects.get(kid=kid)
    if key.state == State.ACTIVE:  # a fresh key of the same family takes over at once
        signing_keys_rotate(force=True, now=now, algorithm=key.algorithm)
        key.refresh_from_db()
    _remove(key, now)
    key_ring_clear()
