"""The default roles, defined in one place.

Roles live in the database (``iam_tenancy.Role``) so that operators can edit them in the Django
admin; a data migration creates these four, and ``manage.py sync_roles`` puts missing ones back
(it never overwrites an operator's edits unless told to with ``--reset``). ``rank`` orders roles:
nobody can give a role ranked above their own, or change a member ranked above them.
"""

from __future__ import annotations

from typing import TypedDict


class RoleDefinition(TypedDict):
    label: str
    rank: int
    permissions: list[str]


# Permission strings are "<area>.<action>"; downstream services define their own areas.
DEFAULT_ROLES: dict[str, RoleDefinition] = {
    "owner": {
        "label": "Owner",
        "rank": 100,
        "permissions": [
            "tenant.read",
            "tenant.manage",
            "members.read",
            "members.invite",
            "members.manage",
            "billing.read",
            "billing.manage",
        ],
    },
    "admin": {
        "label": "Administrator",
        "rank": 80,
        "permissions": [
            "tenant.read",
            "members.read",
            "members.invite",
            "members.manage",
            "billing.read",
        ],
    },
    "member": {
        "label": "Member",
        "rank": 50,
        "permissions": ["tenant.read", "members.read"],
    },
    "viewer": {"label": "Viewer", "rank": 10, "permissions": ["tenant.read"]},
}

OWNER = "owner"
DEFAULT_INVITE_ROLE = "member"
