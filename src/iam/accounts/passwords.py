"""Password policy pieces Django does not ship (the rest is Django's validators, see settings)."""

from __future__ import annotations

import threading
from typing import Any

from django.core.exceptions import ValidationError
from zxcvbn import zxcvbn

from iam.core.conf import iam_settings

# zxcvbn's matching grows with the square of the length (a 200-character password takes about
# seven times as long as a 72-character one), so it estimates this many characters at most:
# zxcvbn-python's own bound. A password whose first 72 characters are hard to guess is hard to
# guess; a longer one with a guessable start is refused, which costs its owner nothing.
ESTIMATED_CHARS = 72
# zxcvbn keeps the user's own words in a module-global dictionary while it matches: one
# estimate at a time per process, or a concurrent one could match against another user's words.
_estimate_lock = threading.Lock()


class MaximumLengthValidator:
    """Refuse passwords longer than ``IAM_PASSWORD_MAX_LENGTH`` (default 1024; NIST asks that at
    least 64 characters be accepted). A bound keeps the hashing cost of one request bounded."""

    def validate(self, password: str, user: object = None) -> None:
        limit = iam_settings.password_max_length
        if len(password) > limit:
            raise ValidationError(
                f"This password is too long. It must contain at most {limit} characters.",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password can be up to {iam_settings.password_max_length} characters long."


def _user_words(user: object) -> list[str]:
    """The account's own words, which an attacker who knows the account tries first."""
    words = []
    for attribute in ("email", "username", "name"):
        value = getattr(user, attribute, None)
        if isinstance(value, str) and value:
            words.append(value)
            if attribute == "email":
                words.append(value.partition("@")[0])
    return words


def password_strength(*, password: str, user: object = None) -> dict[str, Any]:
    """zxcvbn's estimate of ``password`` (its first ``ESTIMATED_CHARS`` characters) for this
    account: ``score`` 0-4 (guesses < 10^3, 10^6, 10^8, 10^10, more), ``feedback``, ``sequence``."""
    with _estimate_lock:
        return zxcvbn(password[:ESTIMATED_CHARS], user_inputs=_user_words(user))


class StrengthValidator:
    """Refuse passwords that are easy to guess (NIST SP 800-63B: "expected" values, not only
    listed ones): sequences (``123456789012``), keyboard rows (``qwertyuiopas``), repeats
    (``aaaaaaaaaaaa``), dates, common words and names with predictable changes, the account's own
    words. zxcvbn scores the guesses an attacker needs from 0 to 4; a score below
    ``IAM_PASSWORD_MIN_SCORE`` (default 3: at least 10^10 guesses) is refused (0 turns the check
    off). The reason is zxcvbn's feedback; the code is ``password_too_similar`` when the account's
    own words made it guessable, else ``password_too_common``."""

    def validate(self, password: str, user: object = None) -> None:
        minimum = iam_settings.password_min_score
        if minimum <= 0:
            return
        estimate = password_strength(password=password, user=user)
        if estimate["score"] >= minimum:
            return
        feedback = estimate["feedback"]
        own_words = any(
            match.get("dictionary_name") == "user_inputs" for match in estimate["sequence"]
        )
        reason = " ".join(
            filter(
                None,
                [
                    "It is built from your e-mail address, username or name." if own_words else "",
                    feedback["warning"],
                    *feedback["suggestions"],
                ],
            )
        )
        raise ValidationError(
            f"This password is too easy to guess. {reason}".strip(),
            code="password_too_similar" if own_words else "password_too_common",
        )

    def get_help_text(self) -> str:
        return (
            "Your password must be hard to guess: no sequences, keyboard patterns, repeats or "
            "common words alone. A few uncommon words make a good one."
        )
