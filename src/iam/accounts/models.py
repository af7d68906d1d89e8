from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models

from iam.core.identifiers import identifier_key

# field -> the comparison key derived from it
_KEYED = {"email": "email_key", "username": "username_key"}


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email_key=identifier_key(username or ""))

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)  # None -> unusable password
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        """An operator's account (``manage.py createsuperuser``). Its password meets the policy
        like every other: Django's command checks a typed password but lets the operator bypass
        the check, and does not check ``DJANGO_SUPERUSER_PASSWORD`` at all (``--noinput``)."""
        if password is not None:
            candidate = self.model(email=self.normalize_email(email), **extra)
            validate_password(password, user=candidate)  # ValidationError: the command says why
        extra.update(is_staff=True, is_superuser=True)
        # An operator creates this account by hand: the address is taken as verified.
        extra.setdefault("email_verified", True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The UUID primary key is the ``sub`` claim of every token."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("e-mail address", max_length=254)
    # What the address is compared by (``iam.core.identifiers``): unique, looked up, never shown.
    email_key = models.CharField(max_length=64, editable=False)
    # NULL, not "", for "no username": the unique constraint ignores NULLs.
    username = models.CharField(  # noqa: DJ001
        max_length=150,
        null=True,
        blank=True,
        validators=[UnicodeUsernameValidator()],
        help_text="Optional. Letters, digits and @/./+/-/_ only.",
    )
    username_key = models.CharField(max_length=64, null=True, editable=False)  # noqa: DJ001
    name = models.CharField("full name", max_length=150, blank=True, default="")
    email_verified = models.BooleanField(default=False)
    # A new address waiting for its verification link; it replaces ``email`` once verified.
    pending_email = models.EmailField(max_length=254, blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the user deleted the account (anonymised)."
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["email_key"],
                name="user_email_key_unique",
                violation_error_message="An account with this e-mail address already exists.",
            ),
            models.UniqueConstraint(
                fields=["username_key"],
                name="user_username_key_unique",
                violation_error_message="An account with this username already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email)
        if self.username == "":
            self.username = None
        self.keys_sync()

    def keys_sync(self) -> None:
        """Derive the comparison keys from the address and the username as they are now."""
        self.email_key = identifier_key(self.email or "")
        self.username_key = identifier_key(self.username) if self.username else None

    def save(self, **kwargs: Any) -> None:
        """Every write keeps the keys in step with what they are derived from (also a save with
        ``update_fields`` that names ``email`` or ``username``)."""
        self.keys_sync()
        fields = kwargs.get("update_fields")
        if fields is not None:
            fields = set(fields)
            kwargs["update_fields"] = fields | {_KEYED[f] for f in fields & _KEYED.keys()}
        super().save(**kwargs)

    def validate_constraints(self, exclude: set[str] | None = None) -> None:
        """A form that edits ``email`` or ``username`` (the keys are not form fields) still gets
        the uniqueness error instead of an IntegrityError on save."""
        exclude = set(exclude or ())
        exclude -= {key for field, key in _KEYED.items() if field not in exclude}
        super().validate_constraints(exclude=exclude)
