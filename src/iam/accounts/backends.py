"""Django authentication backend (used by the admin's session login): e-mail or username."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from iam.accounts.models import User
from iam.accounts.selectors import user_get_by_login


class EmailOrUsernameBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        identifier = username or kwargs.get("email")
        if identifier is None or password is None:
            return None
        user = user_get_by_login(identifier=identifier)
        if user is None:
            User().set_password(password)  # same work for unknown users (timing)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
