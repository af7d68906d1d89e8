from django.db import models
from django.db.models import Q


class SigningKey(models.Model):
    """An RS256 key pair. The private half is encrypted with the KEK (``iam.core.crypto``).

    Lifecycle: next (published, not signing) -> active (signing) -> retired (published until every
    token it signed has expired) -> removed (private key wiped, no longer published).
    """

    class State(models.TextChoices):
        NEXT = "next"
        ACTIVE = "active"
        RETIRED = "retired"
        REMOVED = "removed"

    kid = models.CharField(max_length=64, primary_key=True)
    state = models.CharField(max_length=8, choices=State.choices, db_index=True)
    algorithm = models.CharField(max_length=8, default="RS256", editable=False)
    public_jwk = models.JSONField()
    private_key_encrypted = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    publish_until = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="active"), name="one_active_signing_key"
            ),
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="next"), name="one_next_signing_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.state})"
