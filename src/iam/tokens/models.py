from django.db import models
from django.db.models import Q


class SigningKey(models.Model):
    """A key that signs the IAM's tokens; the secret half is encrypted with the KEK
    (``iam.core.crypto``). Two families, one per token class, each rotated on its own:

    - ``RS256``: an RSA key pair that signs access tokens; its public half is published in the
      JWKS for downstream verifiers;
    - ``HS256``: a 256-bit HMAC secret that signs refresh tokens, which only the IAM verifies.
      Never published: ``public_jwk`` is empty.

    Lifecycle in each family: next (known, not signing) -> active (signing) -> retired (still
    accepted until every token it signed has expired) -> removed (secret wiped, not accepted).
    """

    class State(models.TextChoices):
        NEXT = "next"
        ACTIVE = "active"
        RETIRED = "retired"
        REMOVED = "removed"

    class Algorithm(models.TextChoices):
        RS256 = "RS256", "RS256 (access tokens, published)"
        HS256 = "HS256", "HS256 (refresh tokens, never published)"

    kid = models.CharField(max_length=64, primary_key=True)
    state = models.CharField(max_length=8, choices=State.choices, db_index=True)
    algorithm = models.CharField(
        max_length=8, choices=Algorithm.choices, default=Algorithm.RS256, editable=False
    )
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
                fields=["algorithm", "state"],
                condition=Q(state="active"),
                name="one_active_signing_key_per_algorithm",
            ),
            models.UniqueConstraint(
                fields=["algorithm", "state"],
                condition=Q(state="next"),
                name="one_next_signing_key_per_algorithm",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm}, {self.state})"
