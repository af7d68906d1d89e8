"""The claim types of every token the IAM accepts (docs/jwt-contract.md), checked once a
token's signature, ``typ``, ``iss``, ``aud`` and ``exp`` have passed.

Only a holder of a signing key can mint a token, but a verifier still checks what it decoded
before using it: a validly signed ``exp`` that is a string, a ``sid`` that is not a UUID or
``roles`` that are not a list must be refused (401 ``token_not_valid``, ``active: false``), not
crash whatever reads them later. ``packages/iam-client`` applies the same rules.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any

# 9999-12-31T23:59:59Z: the last second a datetime can hold. Later (or negative) times cannot be
# compared with a clock without overflowing, so they are refused with the other malformed ones.
MAX_TIME = 253_402_300_799


def _time(value: Any) -> bool:
    """A NumericDate (RFC 7519): an integer or a finite number, not a boolean, in range."""
    kind = type(value)
    return (kind is int or (kind is float and math.isfinite(value))) and 0 <= value <= MAX_TIME


def _text(value: Any) -> bool:
    return type(value) is str and value != ""


def _string(value: Any) -> bool:
    return type(value) is str


def _flag(value: Any) -> bool:
    return type(value) is bool


def _strings(value: Any) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def is_uuid(value: Any) -> bool:
    """A UUID in the canonical form the IAM writes (lower-case, hyphenated)."""
    if type(value) is not str or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


CLAIM_TYPES: dict[str, Callable[[Any], bool]] = {
    "iss": _text,
    "aud": _text,  # a string: the IAM never issues a list, and refuses one
    "sub": _text,
    "exp": _time,
    "iat": _time,
    "nbf": _time,
    "auth_time": _time,
    "jti": _text,
    "token_type": _text,
    "sid": is_uuid,
    "email": _string,
    "email_verified": _flag,
    "amr": _strings,
    "is_staff": _flag,
    "tid": is_uuid,
    "tenant": _text,
    "roles": _strings,
    "perms": _strings,
    "client_id": _text,
    "scope": _string,
}


class MalformedClaims(ValueError):
    pass


def token_claims_check(claims: Mapping[str, Any]) -> None:
    """Raise ``MalformedClaims`` unless every claim the contract defines has its type, and the
    token is one kind: a user's (``sid`` and a UUID ``sub``) or a service's (``client_id`` equal
    to ``sub``, no ``sid``); a refresh token is always a user's."""
    for name, valid in CLAIM_TYPES.items():
        if name in claims and not valid(claims[name]):
            raise MalformedClaims(f"The token's {name} claim is malformed.")
    if "sid" in claims:
        if not is_uuid(claims.get("sub")):
            raise MalformedClaims("A user's token has the user's UUID as its sub.")
    elif claims.get("token_type") == "refresh":
        raise MalformedClaims("A refresh token names its session (sid).")
    elif "client_id" in claims and claims["client_id"] != claims.get("sub"):
        raise MalformedClaims("A service token's sub is its client_id.")
