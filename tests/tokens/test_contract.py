"""The tokens the IAM issues match docs/jwt-contract.md, claim by claim and type by type."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest

pytestmark = pytest.mark.django_db

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "jwt-contract.md"
TYPES = {"string": str, "integer": int, "boolean": bool, "array of strings": list}


def claim_table(heading: str) -> dict[str, type]:
    """``{claim: python type}`` from the markdown table under ``heading``."""
    section = CONTRACT.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([a-z ]+) \|", section, flags=re.MULTILINE)
    assert rows, f"no claim table under {heading!r}"
    return {claim: TYPES[kind.strip()] for claim, kind in rows}


def check(token: str, table: dict[str, type]) -> dict:
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == set(table), "claims differ from the contract"
    for claim, kind in table.items():
        assert isinstance(claims[claim], kind), claim
        if kind is list:
            assert all(isinstance(item, str) for item in claims[claim])
    return claims


def test_access_token_matches_the_contract(tokens):
    claims = check(tokens["access"], claim_table("Access token claims"))
    assert claims["token_type"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert jwt.get_unverified_header(tokens["access"])["typ"] == "at+jwt"


def test_refresh_token_matches_the_contract(tokens):
    claims = check(tokens["refresh"], claim_table("Refresh token claims"))
    assert claims["token_type"] == "refresh"
    assert claims["aud"] == claims["iss"]
    assert jwt.get_unverified_header(tokens["refresh"])["typ"] == "refresh+jwt"


def test_header_matches_the_contract(tokens):
    access = jwt.get_unverified_header(tokens["access"])
    assert set(access) == {"alg", "kid", "typ"}
    assert (access["alg"], access["typ"], len(access["kid"])) == ("RS256", "at+jwt", 43)
    refresh = jwt.get_unverified_header(tokens["refresh"])
    assert set(refresh) == {"alg", "kid", "typ"}
    assert (refresh["alg"], refresh["typ"]) == ("HS256", "refresh+jwt")
    assert re.fullmatch(r"hs256-[A-Za-z0-9_-]{24}", refresh["kid"])


def test_header_table_names_each_class(tokens):
    """The header table of the contract says what the tokens carry, class by class."""
    section = CONTRACT.read_text().split("## Header\n", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+)$", section, flags=re.MULTILINE))
    access_alg, refresh_alg = rows["alg"].split(" | ")[:2]
    assert access_alg.startswith("`RS256`")
    assert refresh_alg.startswith("`HS256`")
    access_typ, refresh_typ = rows["typ"].split(" | ")[:2]
    assert access_typ.startswith("`at+jwt`")
    assert refresh_typ.startswith("`refresh+jwt`")


def test_tenant_scoped_access_token_adds_exactly_the_tenant_claims(api, user, login):
    from iam.tenancy.models import Membership, Role, Tenant

    acme = Tenant.objects.create(name="Acme", slug="acme")
    Membership.objects.create(tenant=acme, user=user, role=Role.objects.get(name="admin"))
    access = login(api, tenant="acme").json()["access"]
    table = claim_table("Access token claims") | claim_table("Tenant claims")
    claims = check(access, table)
    assert claims["tid"] == str(acme.pk)
    assert claims["tenant"] == "acme"
    assert claims["roles"] == ["admin"]
    assert claims["perms"] == sorted(Role.objects.get(name="admin").permissions)
