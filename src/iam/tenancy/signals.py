"""What tenancy tells the apps above it (sessions end with the memberships they were scoped to:
``iam.sessions.tenants``)."""

from django.dispatch import Signal

# A member was removed or left through the API, after the change committed. Arguments:
# ``user_id``, ``tenant_id``, ``client`` (a ``ClientInfo``: who asked, from where). Removals made
# elsewhere (Django admin, shell) are seen through ``Membership``'s own ``post_delete``.
membership_ended = Signal()
