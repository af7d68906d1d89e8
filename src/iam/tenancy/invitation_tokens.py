"""The token in an invitation link: the invitation's id, signed (``django.core.signing``, keyed by
``SECRET_KEY``) and valid for ``IAM_INVITATION_TTL``. Nothing secret is stored; the invitation row
says whether it is still open."""

from __future__ import annotations

import uuid

from django.core import signing

from iam.core.conf import iam_settings
from iam.core.exceptions import AccountTokenExpired, AccountTokenInvalid
from iam.tenancy.models import Invitation

_SALT = "iam.tenancy.invitation"


def invitation_token_make(invitation: Invitation) -> str:
    return signing.dumps(invitation.pk.hex, salt=_SALT, compress=False)


def invitation_token_check(token: str) -> Invitation:
    """The invitation a link names (with its role and tenant), whatever its state; raises
    ``AccountTokenExpired`` or ``AccountTokenInvalid`` for a link that is not one."""
    try:
        pk = signing.loads(token, salt=_SALT, max_age=iam_settings.invitation_ttl)
        return Invitation.objects.select_related("role", "tenant").get(pk=uuid.UUID(pk))
    except signing.SignatureExpired as exc:
        raise AccountTokenExpired() from exc
    except (signing.BadSignature, ValueError, TypeError, AttributeError) as exc:
        raise AccountTokenInvalid() from exc
    except Invitation.DoesNotExist as exc:
        raise AccountTokenInvalid() from exc
