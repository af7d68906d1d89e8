"""One comparison key for the names people sign in with: e-mail addresses and usernames.

Two spellings are the same account when their folded forms are equal. The fold is Unicode's
NFKC_Casefold, computed in Python so that SQLite and PostgreSQL (whose ``LOWER``/``UPPER`` and
``iexact`` disagree with each other and with Python outside ASCII) can never decide differently:

1. default-ignorable code points are removed (soft hyphen, zero-width joiners, variation
   selectors, ...: invisible, and dropped by IDNA as well);
2. NFKC (compatibility forms: the Kelvin sign U+212A becomes ``K``, a full-width letter its
   plain one, the ligature U+FB01 ``fi``);
3. full case folding (``K`` and ``k``, sharp s U+00DF and ``ss``, long s U+017F and ``s`` are
   one);
4. NFKC again (folding can leave a string that is not normalised).

The dotted capital I (U+0130) folds to ``i`` followed by a combining dot above (U+0307), and the
dotless i (U+0131) stays itself: neither is the plain ``i`` (Unicode's default folding, not the
Turkish one), so ``kim@`` and its spellings with either are three addresses.

The key stored and looked up (``User.email_key``, ``User.username_key``,
``Invitation.email_key``) is the SHA-256 of the fold: 64 characters whatever the input's length
(a fold can be longer than its input), no second copy of the address in the table, and the very
value the limits count by (sign-in lockout, mail throttles, mail budget). The address itself is
stored and mailed as the person typed it: folding ``ß`` to ``ss`` must not change where mail
goes.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable

from iam.core.crypto import sha256_hex

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt; stable since Unicode 5.2).
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def identifier_fold(text: str) -> str:
    """NFKC_Casefold of ``text`` without its surrounding white space."""
    text = _IGNORABLE.sub("", text.strip())
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def identifier_key(text: str) -> str:
    """What an e-mail address or a username is compared, stored, looked up and counted by."""
    return sha256_hex(identifier_fold(text))


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def same_address(a: str, b: str) -> bool:
    """Whether two e-mail addresses name one mailbox for certain: equal but for the case of the
    ASCII letters A to Z. The key is wider on purpose and must stay so for what it decides
    (nobody registers a look-alike of a taken address), but it must never hand an account to
    whoever controls a look-alike: ``ß`` and ``ss``, the Kelvin sign and ``k``, a joiner and
    nothing are other mailboxes, and under IDNA 2008 other domains (``straße.example`` is
    ``xn--strae-oqa.example``). Whoever trusts a third party's word for an address (a social
    sign-in linking itself to an account) compares with this, not with the key."""
    return a.strip().translate(_ASCII_LOWER) == b.strip().translate(_ASCII_LOWER)


def key_collisions[T](rows: Iterable[tuple[T, str]]) -> list[list[T]]:
    """Groups of two or more ids whose texts share one key (``(id, text)`` rows; empty texts are
    skipped): what a unique constraint on the key would refuse."""
    by_key: dict[str, list[T]] = {}
    for ident, text in rows:
        if text:
            by_key.setdefault(identifier_key(text), []).append(ident)
    return [ids for ids in by_key.values() if len(ids) > 1]
