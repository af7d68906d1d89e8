"""Device sessions: creation at login, refresh rotation with reuse detection, revocation.

A refresh is one conditional UPDATE (compare-and-swap on the current ``jti``) plus its audit row in
one transaction: exactly one of several concurrent uses of a token wins, on every database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any, Protocol, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Field, Q
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError

from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.audit.services import audit_event_build, audit_logged, audit_record
from iam.core.broadcasts import broadcasts_deferred
from iam.core.conf import iam_settings
from iam.core.exceptions import (
    SessionExpired,
    SessionRevoked,
    TokenInvalid,
    TokenReused,
)
from iam.core.http import NO_CLIENT, ClientInfo
from iam.core.sql import insert_values
from iam.sessions.auth_state import session_state_revoked, user_columns, user_without_password
from iam.sessions.models import DeviceSession, RevokeReason, Transport
from iam.tenancy.models import Membership, Role, Tenant
from iam.tenancy.selectors import membership_get, tenant_claims, tenant_claims_of
from iam.tokens.tokens import AccessToken, RefreshToken


class TokenUser(Protocol):
    """What tokens say about their user (``settings.AUTH_USER_MODEL``: ``iam.accounts.User``)."""

    pk: Any
    email: str
    email_verified: bool
    is_staff: bool
    is_active: bool


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    session: DeviceSession
    access: str
    access_expires_in: int
    refresh: str | None  # None when a concurrent duplicate refresh got an access token only
    refresh_expires_at: datetime | None


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _tenant_claims(
    session: DeviceSession,
    membership: Membership | None,
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The tenant claims of the session's active tenant, read fresh (a role change shows at the
    next refresh): ``claims`` when the caller read them already (the refresh statement), else
    from ``membership`` or a query. A membership that is gone ends the session: its tokens were
    for that tenant."""
    if session.tenant_id is None:
        return {}
    if claims is not None:
        return claims
    if membership is None or membership.tenant_id != session.tenant_id:
        membership = membership_get(user_id=session.user_id, tenant_id=session.tenant_id)
    if membership is None:
        session_revoke(session=session, reason=RevokeReason.MEMBERSHIP_REMOVED)
        raise SessionRevoked("You are no longer a member of this session's tenant.")
    return tenant_claims(membership)


def _issue(
    *,
    session: DeviceSession,
    user: TokenUser,
    refresh_jti: str | None,
    membership: Membership | None = None,
    tenant_claims: dict[str, Any] | None = None,
) -> IssuedTokens:
    access = AccessToken()
    access["sub"] = str(user.pk)
    access["sid"] = str(session.pk)
    access["email"] = user.email
    access["email_verified"] = user.email_verified
    access["amr"] = list(session.amr)
    access["auth_time"] = _epoch(session.created_at)
    access["is_staff"] = user.is_staff
    for claim, value in _tenant_claims(session, membership, tenant_claims).items():
        access[claim] = value
    refresh_raw = None
    if refresh_jti is not None:
        refresh = RefreshToken()
        refresh["jti"] = refresh_jti
        refresh["sub"] = str(user.pk)
        refresh["sid"] = str(session.pk)
        refresh["exp"] = _epoch(session.refresh_expires_at)
        refresh_raw = str(refresh)
    return IssuedTokens(
        session=session,
        access=str(access),
        access_expires_in=int(iam_settings.access_lifetime.total_seconds()),
        refresh=refresh_raw,
        refresh_expires_at=session.refresh_expires_at if refresh_jti else None,
    )


def session_open(
    *,
    user: TokenUser,
    transport: Transport,
    amr: list[str],
    client: ClientInfo,
    tenant_id: uuid.UUID | None = None,
    sign_in: dict[str, Any] | None = None,
) -> DeviceSession:
    """Open a session for a user who passed every factor (tokens come from ``session_issue``).

    ``sign_in``: the data of the ``user:login:succeeded`` event; the sign-in is then recorded
    with the session (the user's ``last_login`` and the audit row), in the same statement on
    PostgreSQL (one round trip instead of three)."""
    now = timezone.now()
    expires_at = now + iam_settings.session_absolute_lifetime
    session = DeviceSession(
        user=cast(Any, user),  # the model of settings.AUTH_USER_MODEL
        tenant_id=tenant_id,
        transport=transport,
        amr=amr,
        ip=client.ip,
        user_agent=client.user_agent,
        created_at=now,
        last_used_at=now,
        expires_at=expires_at,
        refresh_expires_at=min(now + iam_settings.refresh_lifetime, expires_at),
        refresh_jti=uuid.uuid4().hex,
    )
    if sign_in is None:
        session.save(force_insert=True)
        return session
    event = audit_event_build(
        event=AuditEventType.LOGIN_SUCCEEDED,
        client=client,
        user_id=user.pk,
        session_id=session.pk,
        data=sign_in,
    )
    cast(Any, user).last_login = now
    user_model = get_user_model()
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        last_login = str(cast(Field, user_model._meta.get_field("last_login")).column)
        session_sql, session_params = insert_values(session)
        event_sql, event_params = insert_values(event)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH opened AS ({session_sql} RETURNING 1),
                     recorded AS ({event_sql} RETURNING 1)
                UPDATE {quote(user_model._meta.db_table)}
                   SET {quote(last_login)} = %s
                 WHERE {quote(str(user_model._meta.pk.column))} = %s
                """,  # noqa: S608  identifiers from model metadata, values are parameters
                [*session_params, *event_params, now, user.pk],
            )
        session._state.adding, session._state.db = False, connection.alias
    else:
        session.save(force_insert=True)
        user_model.objects.filter(pk=user.pk).update(last_login=now)
        event.save(force_insert=True)
    audit_logged(
        AuditEventType.LOGIN_SUCCEEDED, user_id=user.pk, session_id=session.pk, data=sign_in
    )
    return session


def session_issue(
    *, session: DeviceSession, user: TokenUser, membership: Membership | None = None
) -> IssuedTokens:
    """The first token pair of a freshly opened session."""
    return _issue(
        session=session, user=user, refresh_jti=session.refresh_jti, membership=membership
    )


def session_tokens_issue(
    *,
    session: DeviceSession,
    user: TokenUser,
    refresh_jti: str,
    membership: Membership | None = None,
) -> IssuedTokens:
    """Tokens for a session whose refresh ``jti`` the caller just set (e.g. a tenant switch)."""
    return _issue(session=session, user=user, refresh_jti=refresh_jti, membership=membership)


def _ensure_usable(session: DeviceSession, now: datetime) -> None:
    if session.revoked_at is not None:
        raise SessionRevoked()
    if session.expires_at <= now:
        raise SessionExpired()
    if not session.user.is_active:
        session_revoke(session=session, reason=RevokeReason.USER_INACTIVE)
        raise TokenInvalid()


_SESSION_WANTED = {
    "id", "user_id", "tenant_id", "transport", "amr", "created_at", "expires_at",
    "refresh_expires_at", "refresh_jti", "previous_refresh_jti", "rotated_at", "revoked_at",
}  # fmt: skip
# In model field order: Model.from_db() takes values in that order whatever the names' order.
_SESSION_COLUMNS = [
    f.attname for f in DeviceSession._meta.concrete_fields if f.attname in _SESSION_WANTED
]


@dataclass(frozen=True, slots=True)
class _Rotated:
    session: DeviceSession
    tenant_claims: dict[str, Any] | None  # None: no live membership row came back


@cache
def _rotation_sql() -> str:
    """The rotation statement's text, built from the models' metadata once per process."""
    user_model = get_user_model()
    s_cols = ", ".join(f's."{c}" AS "s_{c}"' for c in _SESSION_COLUMNS)
    u_cols = ", ".join(
        f'u."{cast(Field, user_model._meta.get_field(c)).column}" AS "u_{c}"'
        for c in user_columns()
    )
    return f"""
        WITH rotated AS (
            UPDATE {DeviceSession._meta.db_table} AS s
               SET refresh_jti = %(new)s, previous_refresh_jti = %(old)s, rotated_at = %(now)s,
                   last_used_at = %(now)s,
                   refresh_expires_at = LEAST(%(refresh_exp)s, s.expires_at),
                   ip = %(ip)s::inet, user_agent = %(ua)s
              FROM {user_model._meta.db_table} AS u
             WHERE s.id = %(sid)s AND s.refresh_jti = %(old)s AND s.revoked_at IS NULL
               AND s.expires_at > %(now)s AND s.user_id = %(sub)s
               AND u.id = s.user_id AND u.is_active
         RETURNING {s_cols}, {u_cols}
        ), audit AS (
            INSERT INTO {AuditEvent._meta.db_table}
                   (type, user_id, session_id, ip, user_agent, data, created_at)
            SELECT %(event)s, s_user_id, s_id, %(ip)s::inet, %(ua)s, '{{}}'::jsonb, %(now)s
              FROM rotated
        )
        SELECT rotated.*, t.slug, r.name, r.permissions
          FROM rotated
          LEFT JOIN {Membership._meta.db_table} AS m
                 ON m.user_id = rotated.s_user_id AND m.tenant_id = rotated.s_tenant_id
          LEFT JOIN {Tenant._meta.db_table} AS t ON t.id = m.tenant_id AND t.is_active
          LEFT JOIN {Role._meta.db_table} AS r ON r.id = m.role_id
    """  # noqa: S608  identifiers come from model metadata, values are parameters


def _rotate_in_one_statement(
    *, sid: uuid.UUID, sub: str, jti: str, new_jti: str, now: datetime, client: ClientInfo
) -> _Rotated | None:
    """PostgreSQL: the whole happy path in one statement (and so one commit): compare-and-swap
    the current jti of a live session of an active user, write the audit row, return session and
    user, and the membership of the session's tenant for the tenant claims. ``None`` when anything
    is off; the general path then decides what it was."""
    sql = _rotation_sql()
    params: dict[str, Any] = {
        "new": new_jti,
        "old": jti,
        "now": now,
        "refresh_exp": now + iam_settings.refresh_lifetime,
        "ip": client.ip,
        "ua": client.user_agent,
        "sid": sid,
        "sub": uuid.UUID(sub),
        "event": AuditEventType.TOKEN_REFRESHED.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_SESSION_COLUMNS)
    values = list(row[:split])
    # from_db() runs no field converters: jsonb arrives as text from Django's psycopg loaders
    values[_AMR_INDEX] = _json_column(values[_AMR_INDEX])
    session = DeviceSession.from_db(connection.alias, _SESSION_COLUMNS, values)
    session.user = cast(Any, user_without_password(row[split:-3], connection.alias))
    audit_logged(AuditEventType.TOKEN_REFRESHED, user_id=session.user_id, session_id=session.pk)
    slug, role, permissions = row[-3:]
    claims = None
    if session.tenant_id is not None and slug is not None and role is not None:
        claims = tenant_claims_of(
            tenant_id=session.tenant_id,
            slug=slug,
            role=role,
            permissions=_json_column(permissions),
        )
    return _Rotated(session=session, tenant_claims=claims)


_AMR_INDEX = _SESSION_COLUMNS.index("amr")


def _json_column(value: Any) -> Any:
    field = cast(Any, DeviceSession._meta.get_field("amr"))
    return field.from_db_value(value, None, connection)  # no expression: a raw column


def session_rotate(
    *, raw_refresh: str, client: ClientInfo, token: RefreshToken | None = None
) -> IssuedTokens:
    """Exchange a refresh token for a new access token and a new refresh token.

    - the current token: rotated (one winner among concurrent uses);
    - the token just replaced, within the grace window: a new access token, no new refresh token
      (two tabs refreshing at once);
    - any older token of the session: theft; the session is revoked and TokenReused raised.
    """
    if token is None:  # else the caller already verified this very token
        try:
            token = RefreshToken(raw_refresh)  # type: ignore[arg-type]  # SimpleJWT takes str
        except TokenError as exc:
            raise TokenInvalid() from exc
    jti, sid = token["jti"], token.get("sid")
    if connection.vendor == "postgresql":
        try:
            fast = _rotate_in_one_statement(
                sid=uuid.UUID(str(sid)),
                sub=str(token["sub"]),
                jti=jti,
                new_jti=uuid.uuid4().hex,
                now=timezone.now(),
                client=client,
            )
        except ValueError as exc:
            raise TokenInvalid() from exc
        if fast is not None:
            session = fast.session
            return _issue(
                session=session,
                user=session.user,
                refresh_jti=session.refresh_jti,
                tenant_claims=fast.tenant_claims,
            )
    try:
        session = DeviceSession.objects.select_related("user").get(pk=uuid.UUID(str(sid)))
    except (ValueError, DeviceSession.DoesNotExist) as exc:
        raise TokenInvalid() from exc
    if str(session.user_id) != token["sub"]:
        raise TokenInvalid()
    now = timezone.now()
    _ensure_usable(session, now)

    if jti == session.refresh_jti:
        new_jti = uuid.uuid4().hex
        refresh_expires_at = min(now + iam_settings.refresh_lifetime, session.expires_at)
        with transaction.atomic():
            won = DeviceSession.objects.filter(
                pk=session.pk, refresh_jti=jti, revoked_at__isnull=True
            ).update(
                refresh_jti=new_jti,
                previous_refresh_jti=jti,
                rotated_at=now,
                last_used_at=now,
                refresh_expires_at=refresh_expires_at,
                ip=client.ip,
                user_agent=client.user_agent,
            )
            if won:
                audit_record(
                    event=AuditEventType.TOKEN_REFRESHED,
                    client=client,
                    user_id=session.user_id,
                    session_id=session.pk,
                )
        if won:
            session.refresh_jti, session.previous_refresh_jti = new_jti, jti
            session.rotated_at = session.last_used_at = now
            session.refresh_expires_at = refresh_expires_at
            return _issue(session=session, user=session.user, refresh_jti=new_jti)
        session.refresh_from_db()  # lost the race: decide against the winner's state
        _ensure_usable(session, now)

    rotated_at = session.rotated_at
    if (
        jti == session.previous_refresh_jti
        and rotated_at is not None
        and now - rotated_at <= iam_settings.refresh_grace
    ):
        return _issue(session=session, user=session.user, refresh_jti=None)

    _revoke_and_audit(session, RevokeReason.REFRESH_REUSED, client)
    raise TokenReused()


def session_revoke(*, session: DeviceSession, reason: str) -> bool:
    """Revoke a session: its refresh tokens and access tokens stop working at once. Idempotent."""
    now = timezone.now()
    changed = DeviceSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoke_reason=reason
    )
    if changed:
        session.revoked_at, session.revoke_reason = now, reason
    # Every time, also when already revoked: a repeat re-broadcasts what failed to go out before.
    # RevocationNotPropagated if the shared cache cannot be told (at once, or at the end of the
    # caller's broadcasts_deferred block).
    session_state_revoked(session.pk)
    return bool(changed)


class LogoutOutcome(StrEnum):
    ENDED = "ended"  # the session was live and has ended now
    ALREADY_ENDED = "already_ended"  # revoked before (a retry tells the other processes again)
    NOT_FOUND = "not_found"  # no session of that id and user


def session_logout(
    *, session_id: str, user_id: str, client: ClientInfo, refresh_jti: str | None = None
) -> LogoutOutcome:
    """End a session of ``user_id`` (a session of anyone else is ``NOT_FOUND``, like no session).
    Logging out with a refresh token that was already rotated away (older than the one just
    replaced) is a theft signal: it is recorded as reuse, not as a logout."""
    try:
        session = DeviceSession.objects.filter(pk=session_id, user_id=user_id).first()
    except ValidationError:
        return LogoutOutcome.NOT_FOUND
    if session is None:
        return LogoutOutcome.NOT_FOUND
    known = {session.refresh_jti, session.previous_refresh_jti}
    if refresh_jti is not None and refresh_jti not in known:
        ended = _revoke_and_audit(session, RevokeReason.REFRESH_REUSED, client)
    else:
        ended = _revoke_and_audit(session, RevokeReason.LOGOUT, client)
    return LogoutOutcome.ENDED if ended else LogoutOutcome.ALREADY_ENDED


_REVOKE_EVENTS = {
    RevokeReason.LOGOUT: AuditEventType.LOGOUT,
    RevokeReason.REFRESH_REUSED: AuditEventType.REFRESH_REUSE_DETECTED,
    RevokeReason.USER: AuditEventType.SESSION_REVOKED,
}


def sessions_revoke_for_user(
    *,
    user_id: uuid.UUID | str,
    reason: RevokeReason,
    client: ClientInfo | None = None,
    keep_session_id: uuid.UUID | str | None = None,
    tenant_id: uuid.UUID | str | None = None,
    or_switched_since: datetime | None = None,
) -> int:
    """Revoke every live session of a user (all but ``keep_session_id``; only those scoped to
    ``tenant_id`` if given), one audit event per revoked session. Their refresh and access tokens
    stop working at once. Returns how many."""
    client = client or NO_CLIENT
    now = timezone.now()
    with transaction.atomic():
        live = DeviceSession.objects.filter(user_id=user_id, revoked_at__isnull=True)
        if keep_session_id is not None:
            live = live.exclude(pk=keep_session_id)
        if tenant_id is not None:
            scoped = Q(tenant_id=tenant_id)
            if or_switched_since is not None:
                # a session that left the tenant recently may still hold its access tokens
                scoped |= Q(tenant_switched_at__gte=or_switched_since)
            live = live.filter(scoped)
        ids = list(live.select_for_update().values_list("pk", flat=True))
        if not ids:
            return 0
        DeviceSession.objects.filter(pk__in=ids).update(revoked_at=now, revoke_reason=reason)
        AuditEvent.objects.bulk_create(
            AuditEvent(
                type=AuditEventType.SESSION_REVOKED,
                user_id=user_id,
                session_id=sid,
                ip=client.ip,
                user_agent=client.user_agent,
                data={"reason": str(reason)},
            )
            for sid in ids
        )
    # Committed (or part of the caller's transaction): every revocation and its event stands even
    # if Redis cannot be told; RevocationNotPropagated comes after the last one (or at the end of
    # the caller's broadcasts_deferred block).
    with broadcasts_deferred():
        for sid in ids:
            audit_logged(AuditEventType.SESSION_REVOKED, user_id=user_id, session_id=sid)
            session_state_revoked(sid)
    return len(ids)


def _revoke_and_audit(session: DeviceSession, reason: RevokeReason, client: ClientInfo) -> bool:
    """Revoke and write the event, once: also when the broadcast to the other processes fails
    (the revocation is in the database; the caller gets the 503 afterwards), and not again when
    a repeat of the request only re-sends the broadcast. Returns whether the session was live
    (False: it had been revoked before)."""
    event = _REVOKE_EVENTS[reason]
    with broadcasts_deferred():
        changed = session_revoke(session=session, reason=reason)
        if changed:
            audit_record(event=event, client=client, user_id=session.user_id, session_id=session.pk)
    return changed


def session_revoke_by_user(*, session: DeviceSession, client: ClientInfo) -> None:
    """The user ended one of their own sessions (from their session list): revoke it, write
    ``session:session:revoked`` and tell every process. The caller checks ownership."""
    _revoke_and_audit(session, RevokeReason.USER, client)


def sessions_cleanup(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Delete sessions that ended (revoked or expired) longer ago than the retention period."""
    now = now or timezone.now()
    cutoff = now - iam_settings.session_retention
    ended = (
        DeviceSession.objects.filter(revoked_at__lt=cutoff)
        | DeviceSession.objects.filter(expires_at__lt=cutoff)
        # idle: found by the day of the refresh expiry (indexed; the time itself is not, so
        # that a rotation writes no index entry), then the time decides
        | DeviceSession.objects.filter(
            refresh_expires_day__lte=cutoff.astimezone(UTC).date(), refresh_expires_at__lt=cutoff
        )
    )
    deleted = 0
    while True:
        ids = list(ended.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += DeviceSession.objects.filter(pk__in=ids).delete()[0]
