"""What the account lifecycle tells the apps above it (``iam.mfa`` guards and forgets the
second factor of an account being deleted: ``iam.mfa.receivers``)."""

from django.dispatch import Signal

# An account is about to be deleted at its owner's request; its password was right and nothing
# else refuses it. A receiver that guards the account raises a domain exception to refuse the
# deletion (nothing has changed yet). Arguments: ``user``, ``code`` (the second-factor code the
# owner gave, or None), ``client``, ``session_id``.
account_deleting = Signal()

# The account was deleted (anonymised, its sessions ended): receivers drop what they keep about
# it. Arguments: ``user``.
account_deleted = Signal()
