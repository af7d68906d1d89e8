"""The login use case: credentials -> (every factor passed) -> a new device session with tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth.hashers import make_password
from django.db import transaction

from iam.accounts.lockout import login_account_key, login_failure_record, login_lockout_check
from iam.accounts.mail import sign_in_notice_enqueue
from iam.accounts.models import User
from iam.accounts.services import user_lock
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings
from iam.core.exceptions import EmailNotVerified, InvalidCredentials, NotTenantMember
from iam.core.http import ClientInfo
from iam.core.ratelimit import ReadAhead
from iam.core.sql import PreparedQuery
from iam.mfa.challenge import MfaChallengeStarted, mfa_challenge_pass, mfa_challenge_start
from iam.mfa.selectors import mfa_enabled_expression
from iam.sessions.models import Transport
from iam.sessions.selectors import sign_in_device_seen
from iam.sessions.services import IssuedTokens, session_issue, session_open
from iam.tenancy.context import TenantRef
from iam.tenancy.models import Membership
from iam.tenancy.selectors import (
    membership_default_expressions,
    membership_default_of,
    membership_get,
    membership_get_by_slug,
    membership_locked,
    membership_of_pk,
    tenant_of_domain_expressions,
)


def _fail(*, reason: str, client: ClientInfo, user: User | None = None) -> None:
    audit_record(
        event=AuditEventType.LOGIN_FAILED,
        client=client,
        user_id=user.pk if user else None,
        data={"reason": reason},
    )


def _wrong_password(
    *, reason: str, client: ClientInfo, user: User | None, account_key: str
) -> None:
    """A failed guess: audited, counted towards the progressive delays (and their start
    audited), then the one ``invalid_credentials`` answer."""
    _fail(reason=reason, client=client, user=user)
    for lock in login_failure_record(account_key=account_key, ip=client.ip):
        audit_record(
            event=AuditEventType.LOGIN_LOCKED,
            client=client,
            user_id=user.pk if user and lock.scope == "account" else None,
            data={"scope": lock.scope, "failures": lock.failures, "delay": lock.delay},
        )
    raise InvalidCredentials()


# "the user's only tenant, if exactly one": decided with the sign-in's other facts, under the lock
DEFAULT_TENANT = object()


def _tenant_for_login(
    *,
    user: User,
    tenant_slug: str | None,
    tenant_requested: TenantRef | None,
    tenant_asked: bool,
) -> Membership | object:
    """The membership the new session is scoped to: the tenant asked for in the body, else the
    one the request names (``X-Tenant`` or host). When none is named, ``DEFAULT_TENANT``: the
    user's only tenant if exactly one, read with the sign-in's facts (``_sign_in_facts``)."""
    if tenant_slug is not None:
        membership = membership_get_by_slug(user_id=user.pk, slug=tenant_slug)
    elif tenant_requested:
        membership = membership_get(user_id=user.pk, tenant_id=tenant_requested.id)
    elif tenant_asked:  # the header or host named a tenant that does not exist or is inactive
        membership = None
    else:
        return DEFAULT_TENANT
    if membership is None:  # unknown and not-a-member tenants look the same
        raise NotTenantMember()
    return membership


def _sign_in_facts_query(*, user_id: Any, user_agent: str, domain: str) -> Any:
    return User.objects.filter(pk=user_id).values_list(
        mfa_enabled_expression(user_id=user_id),
        *sign_in_device_seen(user_id=user_id, user_agent=user_agent),
        *membership_default_expressions(user_id=user_id),
        *tenant_of_domain_expressions(user_id=user_id, domain=domain),
    )[:1]


# built and compiled once per process; every sign-in only runs it
_SIGN_IN_FACTS = PreparedQuery(
    _sign_in_facts_query,
    user_id=uuid.uuid4(),
    user_agent=f"example-{uuid.uuid4().hex}",
    domain=f"example-{uuid.uuid4().hex}.invalid",
)


@dataclass(frozen=True, slots=True)
class _SignInFacts:
    mfa_on: bool
    has_sessions: bool  # the user has a session (ended ones included)
    same_agent: bool  # one of them from this user agent
    default_tenant: tuple[Any, Any]  # see membership_default_expressions
    domain_tenant: tuple[Any, Any]  # see tenant_of_domain_expressions


def _sign_in_facts(*, user_id: Any, user_agent: str, domain: str) -> _SignInFacts:
    """Whether MFA is on, the device history, the user's default tenant and the tenant whose
    own domain the request came to, in one statement, asked once ``user_lock`` is held: a
    statement that starts after the wait sees what the sign-in or MFA change that held the lock
    committed (whether MFA is on must be current; the device history decides the new-device
    notice)."""
    row = _SIGN_IN_FACTS.first(user_id=user_id, user_agent=user_agent, domain=domain)
    if row is None:
        return _SignInFacts(False, False, False, (None, None), (None, None))
    return _SignInFacts(
        bool(row[0]), bool(row[1]), bool(row[2]), (row[3], row[4]), (row[5], row[6])
    )


def _tenant_not_named(facts: _SignInFacts, *, domain: str) -> tuple[Membership | None, bool]:
    """The membership for a sign-in whose request names no tenant by header, base-domain host
    or body, and whether it is refused: the tenant whose own domain the request came to (a
    member only; anyone else is refused, as for a tenant named any other way), else the user's
    only tenant, if exactly one."""
    tenant_id, membership_id = facts.domain_tenant
    if domain and tenant_id is not None:
        membership = membership_of_pk(pk=membership_id) if membership_id is not None else None
        return membership, membership is None
    return membership_default_of(*facts.default_tenant), False


def login_with_password(
    *,
    user: User | None,
    identifier: str,
    password: str,
    transport: Transport,
    client: ClientInfo,
    tenant_slug: str | None = None,
    tenant_requested: TenantRef | None = None,
    tenant_asked: bool = False,
    tenant_domain: str = "",
    lock_read_ahead: ReadAhead | None = None,
) -> IssuedTokens | MfaChallengeStarted:
    """Check the password and open a session, or, for a user with MFA on, start the second
    step (no tokens yet).

    Unknown account, wrong password and inactive account give the same answer after the same work
    (a full password hash), so the answer does not tell whether an account exists. Only a caller
    who knows the password learns that the address is unverified.

    The tenant: ``tenant_slug`` (the body) wins, then ``tenant_requested`` when ``tenant_asked``
    (see ``iam.tenancy.middleware.TenantNamed``), then the tenant whose own domain is
    ``tenant_domain``, then the user's only tenant.

    ``lock_read_ahead``: the lock states as the request's limits read them moments before
    (``iam.authn.apis.LoginLimits``).
    """
    account_key = login_account_key(user, identifier)
    login_lockout_check(  # before any hashing
        account_key=account_key,
        ip=client.ip,
        user_id=user.pk if user else None,
        read_ahead=lock_read_ahead,
    )
    if user is None:
        make_password(password)  # the same hashing work as a real check
        _wrong_password(reason="unknown_account", client=client, user=None, account_key=account_key)
    if not user.check_password(password):  # also upgrades an outdated hash (e.g. PBKDF2)
        _wrong_password(reason="bad_password", client=client, user=user, account_key=account_key)
    if not user.is_active:
        _fail(reason="inactive", client=client, user=user)
        raise InvalidCredentials()
    if iam_settings.require_email_verification and not user.email_verified:
        _fail(reason="email_not_verified", client=client, user=user)
        raise EmailNotVerified()
    try:
        membership = _tenant_for_login(
            user=user,
            tenant_slug=tenant_slug,
            tenant_requested=tenant_requested,
            tenant_asked=tenant_asked,
        )
        tenant_refused = False
    except NotTenantMember:
        membership, tenant_refused = None, True
    return _first_factor_passed(
        user=user,
        transport=transport,
        client=client,
        membership=membership,
        tenant_refused=tenant_refused,
        unchanged=(user.password, True),
        tenant_domain=tenant_domain,
    )


def login_with_identity(
    *,
    user: User,
    provider: str,
    transport: Transport,
    client: ClientInfo,
    tenant_slug: str | None = None,
    tenant_requested: TenantRef | None = None,
    tenant_asked: bool = False,
) -> IssuedTokens | MfaChallengeStarted:
    """A sign-in at an identity provider (``provider``) for an account it is linked to: then
    exactly what a password sign-in does after the password (tenant choice, the second step for
    a user with MFA on, session, notice, audit), with ``amr`` ``["fed"]``. Raises
    ``InvalidCredentials`` for an account that is (or became) inactive."""
    if not user.is_active:
        _fail(reason="inactive", client=client, user=user)
        raise InvalidCredentials()
    if iam_settings.require_email_verification and not user.email_verified:
        _fail(reason="email_not_verified", client=client, user=user)
        raise EmailNotVerified()
    try:
        membership = _tenant_for_login(
            user=user,
            tenant_slug=tenant_slug,
            tenant_requested=tenant_requested,
            tenant_asked=tenant_asked,
        )
        tenant_refused = False
    except NotTenantMember:
        membership, tenant_refused = None, True
    return _first_factor_passed(
        user=user,
        transport=transport,
        client=client,
        membership=membership,
        tenant_refused=tenant_refused,
        provider=provider,
    )


def _first_factor_passed(
    *,
    user: User,
    transport: Transport,
    client: ClientInfo,
    membership: Membership | object | None,
    tenant_refused: bool,
    unchanged: tuple[str, bool] | None = None,
    provider: str = "",
    tenant_domain: str = "",
) -> IssuedTokens | MfaChallengeStarted:
    """The first factor passed (the password ``unchanged`` names, or a sign-in at ``provider``):
    under the user's lock, start the second step or open the session."""
    with transaction.atomic():
        # Sign-ins and MFA changes of this user take turns: MFA turned on (or the password
        # changed, or the account deactivated) while this request ran is seen here, not
        # slipped past.
        current = user_lock(user_id=user.pk)
        still = current == unchanged if unchanged is not None else bool(current and current[1])
        refusal = None if still else "changed_meanwhile"
        if refusal is None:
            facts = _sign_in_facts(
                user_id=user.pk, user_agent=client.user_agent, domain=tenant_domain
            )
            if membership is DEFAULT_TENANT:
                chosen, tenant_refused = _tenant_not_named(facts, domain=tenant_domain)
            else:
                chosen = cast(Membership | None, membership)
            challenge = mfa_challenge_start(
                user=user,
                transport=transport,
                tenant_id=chosen.tenant_id if chosen else None,
                tenant_refused=tenant_refused,
                client=client,
                mfa_on=facts.mfa_on,
                provider=provider,
            )
            if challenge is not None:
                return challenge
            if not tenant_refused:
                return _login_complete(
                    user=user,
                    membership=chosen,
                    transport=transport,
                    client=client,
                    amr=["fed"] if provider else ["pwd"],
                    device_seen=(facts.has_sessions, facts.same_agent),
                    provider=provider,
                )
            refusal = "not_a_member"
    _fail(reason=refusal, client=client, user=user)  # after the block: the audit row stays
    if refusal == "not_a_member":
        raise NotTenantMember()
    raise InvalidCredentials()


def login_with_second_factor(*, mfa_token: str, code: str, client: ClientInfo) -> IssuedTokens:
    """The second step of a login for a user with MFA on: the code of the pending sign-in
    ``mfa_token`` names, then a session exactly as a password-only login opens (``amr``
    ``["pwd", "otp"]``, or ``["fed", "otp"]`` after a sign-in at an identity provider; a backup
    code is a one-time password too)."""
    passed = mfa_challenge_pass(mfa_token=mfa_token, code=code, client=client)
    if passed.tenant_refused:
        _fail(reason="not_a_member", client=client, user=passed.user)
        raise NotTenantMember()
    membership = None
    if passed.tenant_id is not None:
        membership = membership_get(user_id=passed.user.pk, tenant_id=passed.tenant_id)
        if membership is None:
            _fail(reason="not_a_member", client=client, user=passed.user)
            raise NotTenantMember()
    return _login_complete(
        user=passed.user,
        membership=membership,
        transport=Transport(passed.transport),
        client=client,
        amr=["fed" if passed.provider else "pwd", "otp"],
        method=passed.method,
        provider=passed.provider,
    )


def _login_complete(
    *,
    user: User,
    membership: Membership | None,
    transport: Transport,
    client: ClientInfo,
    amr: list[str],
    method: str | None = None,
    device_seen: tuple[bool, bool] | None = None,
    provider: str = "",
) -> IssuedTokens:
    """Every factor passed: open the device session and issue its first tokens.
    ``device_seen``: see ``sign_in_notice_enqueue``."""
    with transaction.atomic(savepoint=False):  # inside the login's transaction: no savepoint
        if membership is not None and not membership_locked(
            user_id=user.pk, tenant_id=membership.tenant_id
        ):
            raise NotTenantMember()  # removed while signing in
        data = {
            "transport": transport,
            "amr": amr,
            "tenant": membership.tenant.slug if membership else None,
        }
        if method is not None:
            data["mfa_method"] = method
        if provider:
            data["provider"] = provider
        # the session, the user's last_login and the audit row: one statement on PostgreSQL
        session = session_open(
            user=user,
            transport=transport,
            amr=amr,
            client=client,
            tenant_id=membership.tenant_id if membership else None,
            sign_in=data,
        )
        sign_in_notice_enqueue(session=session, device_seen=device_seen)
    return session_issue(session=session, user=user, membership=membership)
