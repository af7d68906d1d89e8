"""Social sign-in: identities linked to accounts, pending links, and the one-time values
social-core keeps while a sign-in is under way (state, OIDC nonce)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from social_django.storage import DjangoAssociationMixin, DjangoNonceMixin


class SocialIdentity(models.Model):
    """An account at an identity provider, linked to a user. Keyed by (provider, subject): the
    provider's stable id (OIDC ``sub``, GitHub's numeric ``id``), never an e-mail address or a
    username. Deleted with its user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="social_identities"
    )
    provider = models.CharField(max_length=32)
    subject = models.CharField(max_length=255)
    # what the provider said when the identity was linked or last used (shown to the user)
    email = models.EmailField(max_length=254, blank=True, default="")
    email_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "social identities"
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="social_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.subject} ({self.user_id})"


class SocialLink(models.Model):
    """A pending link: an identity whose verified address belongs to an account it is not
    linked to. It waits until the account's owner signs in and confirms. The client holds an
    opaque token; only its SHA-256 is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=32)
    subject = models.CharField(max_length=255)
    email = models.EmailField(max_length=254)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"pending link {self.provider}:{self.subject} -> {self.user_id}"


class SocialNonce(models.Model, DjangoNonceMixin):
    """social-core's one-time values: a sign-in's ``state`` (taken at begin, consumed at the
    callback) and the digests of ID tokens accepted by the token endpoint (single use)."""

    server_url = models.CharField(max_length=255)
    timestamp = models.IntegerField(db_index=True)
    salt = models.CharField(max_length=65)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["server_url", "timestamp", "salt"], name="social_nonce_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.server_url} ({self.timestamp})"


class SocialAssociation(models.Model, DjangoAssociationMixin):
    """social-core's store for the OIDC ``nonce`` of a sign-in under way (its "association"),
    bound to the sign-in's state and removed when the ID token carrying it is accepted."""

    server_url = models.CharField(max_length=255)
    handle = models.CharField(max_length=255)
    secret = models.CharField(max_length=255)
    issued = models.IntegerField()
    lifetime = models.IntegerField()
    assoc_type = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["server_url", "handle"], name="social_association_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.server_url} ({self.handle})"
