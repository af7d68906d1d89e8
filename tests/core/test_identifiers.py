"""The comparison key of addresses and usernames (``iam.core.identifiers``)."""

from __future__ import annotations

import unicodedata

import pytest

from iam.core.identifiers import identifier_fold, identifier_key, key_collisions


@pytest.mark.parametrize(
    ("spelling", "fold"),
    [
        ("Kate@Example.COM", "kate@example.com"),
        ("\u212aate@example.com", "kate@example.com"),  # Kelvin sign
        ("\uff2b\uff41\uff54\uff45", "kate"),  # full-width
        ("stra\u00dfe@example.com", "strasse@example.com"),  # sharp s folds to ss
        ("\u017fam", "sam"),  # long s
        ("\ufb01sh@example.com", "fish@example.com"),  # ligature
        ("e\u0301@example.com", "\u00e9@example.com"),  # decomposed and composed agree
        ("ka\u00adte\u200d@exam\ufe0fple.com", "kate@example.com"),  # default ignorables
        ("  kate@example.com\t", "kate@example.com"),
        ("k\u0130m", "ki\u0307m"),  # dotted capital I keeps its dot
        ("k\u0131m", "k\u0131m"),  # dotless i stays dotless
    ],
)
def test_the_fold_is_nfkc_casefold(spelling: str, fold: str) -> None:
    assert identifier_fold(spelling) == fold
    assert identifier_fold(fold) == fold  # idempotent
    assert unicodedata.is_normalized("NFKC", identifier_fold(spelling))


def test_the_key_is_a_fixed_length_digest_of_the_fold() -> None:
    long_fold = "\ufdfa" * 254  # NFKC makes each of these 18 characters
    assert len(identifier_fold(long_fold)) == 18 * 254
    assert len(identifier_key(long_fold)) == 64
    assert identifier_key("\u212aATE@example.com") == identifier_key("kate@EXAMPLE.com")
    assert identifier_key("k\u0130m@x.org") != identifier_key("kim@x.org")
    assert identifier_key("\ud800@x.org")  # a lone surrogate (JSON allows it) hashes


def test_collisions_are_groups_of_ids_sharing_a_key() -> None:
    rows = [(1, "kate@x.org"), (2, "\u212aate@x.org"), (3, "kim@x.org"), (4, ""), (5, "")]
    rows.append((6, "KATE@X.ORG"))
    assert key_collisions(rows) == [[1, 2, 6]]
