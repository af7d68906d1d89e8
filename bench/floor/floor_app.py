"""The floor: the least work a login and a refresh can do under the IAM's locked decisions.

A measuring instrument, not a product. A bare WSGI callable (no Django, no DRF, no middleware,
no rate limits, no logging) that does only what the issue makes unavoidable, with the same
libraries the IAM uses:

* refresh: decode the HS256 refresh token with PyJWT (SimpleJWT decodes with ``jwt.decode``),
  one PostgreSQL statement that compare-and-swaps the session's current ``jti`` and writes the
  audit row (one commit), then an RS256 signature (new access token) and an HS256 one (new
  refresh token) with PyJWT;
* login: one ``SELECT`` of the user, an Argon2id verify, one statement that inserts the session
  and the audit row (one commit), an RS256 and an HS256 signature;
* me: ``jwt.decode`` of the bearer token; ping: a constant JSON body.

Refresh tokens are HS256 since the IAM signs them with a secret only it holds (issue 17); with
``FLOOR_REFRESH_ALG=RS256`` the floor signs and verifies them with the RSA key as before, which
is the floor the IAM was measured against until then (``--target floor_rs256``).

The key is parsed once per process and kept as a key object (never re-parsed). If this cannot
reach a target on a machine, no implementation with Django, DRF and SimpleJWT on that machine
can: ``bench/run.py --target floor`` measures it in the same run as stock and the IAM.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_floor gunicorn -w 2 floor_app:app
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jwt
import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER, AUDIENCE, KID = "http://floor.invalid", "floor", "floor-key"
ACCESS_LIFETIME, REFRESH_LIFETIME = 900, 7 * 86400

KEY_FILE = Path(__file__).resolve().parent / "var" / "signing-key.pem"
REFRESH_ALG = os.environ.get("FLOOR_REFRESH_ALG", "HS256")
REFRESH_KID = "floor-refresh-secret"


def _load_key() -> rsa.RSAPrivateKey:
    """The key ``setup`` wrote, parsed once per process (every worker must share it)."""
    key = serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


_PRIVATE = _load_key() if KEY_FILE.exists() else None
_PUBLIC = _PRIVATE.public_key() if _PRIVATE else None
# the refresh secret: derived from the key file so that every worker shares it
_REFRESH_SECRET = (
    hashlib.sha256(b"floor refresh secret" + KEY_FILE.read_bytes()).digest()
    if KEY_FILE.exists()
    else b""
)


def public_pem() -> str:
    """The public key in PEM (for ``floor_django_settings``), empty before ``setup``."""
    if _PUBLIC is None:
        return ""
    return _PUBLIC.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_conn: psycopg.Connection | None = None

REFRESH_SQL = """
WITH rotated AS (
    UPDATE floor_session SET refresh_jti = %(new)s, previous_refresh_jti = %(old)s,
           rotated_at = now(), last_used_at = now()
     WHERE id = %(sid)s AND refresh_jti = %(old)s AND revoked_at IS NULL AND expires_at > now()
 RETURNING id, user_id
), audit AS (
    INSERT INTO floor_audit (type, user_id, session_id, created_at)
    SELECT 'token:refresh:succeeded', user_id, id, now() FROM rotated
)
SELECT id, user_id FROM rotated
"""
LOGIN_SQL = """
WITH opened AS (
    INSERT INTO floor_session (id, user_id, refresh_jti, created_at, last_used_at, expires_at)
    VALUES (%(sid)s, %(uid)s, %(jti)s, now(), now(), now() + interval '30 days')
 RETURNING id, user_id
), audit AS (
    INSERT INTO floor_audit (type, user_id, session_id, created_at)
    SELECT 'user:login:succeeded', user_id, id, now() FROM opened
)
SELECT id FROM opened
"""
SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_user (
    id uuid PRIMARY KEY, email text UNIQUE NOT NULL, password text NOT NULL);
CREATE TABLE IF NOT EXISTS floor_session (
    id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES floor_user (id),
    refresh_jti text NOT NULL, previous_refresh_jti text, rotated_at timestamptz,
    created_at timestamptz NOT NULL, last_used_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL, revoked_at timestamptz);
CREATE TABLE IF NOT EXISTS floor_audit (
    id bigserial PRIMARY KEY, type text NOT NULL, user_id uuid, session_id uuid,
    created_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS floor_audit_user ON floor_audit (user_id, created_at);
"""

Start = Callable[[str, list[tuple[str, str]]], Any]


def _db() -> psycopg.Connection:
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    return _conn


def _sign(claims: dict[str, Any], typ: str) -> str:
    if typ == "refresh+jwt" and REFRESH_ALG == "HS256":
        headers = {"kid": REFRESH_KID, "typ": typ}
        return jwt.encode(claims, _REFRESH_SECRET, algorithm="HS256", headers=headers)
    return jwt.encode(claims, _PRIVATE, algorithm="RS256", headers={"kid": KID, "typ": typ})


def _tokens(session_id: str, user_id: str, jti: str) -> dict[str, Any]:
    now = int(time.time())
    common = {"iss": ISSUER, "aud": AUDIENCE, "sub": user_id, "sid": session_id, "iat": now}
    access = _sign(
        {**common, "exp": now + ACCESS_LIFETIME, "jti": uuid.uuid4().hex, "token_type": "access"},
        "at+jwt",
    )
    refresh = _sign(
        {**common, "exp": now + REFRESH_LIFETIME, "jti": jti, "token_type": "refresh"},
        "refresh+jwt",
    )
    return {
        "token_type": "Bearer",
        "expires_in": ACCESS_LIFETIME,
        "access": access,
        "refresh": refresh,
    }


def _decode(token: str, token_type: str) -> dict[str, Any] | None:
    if token_type == "refresh" and REFRESH_ALG == "HS256":
        key, algorithm = _REFRESH_SECRET, "HS256"
    else:
        key, algorithm = _PUBLIC, "RS256"
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm], audience=AUDIENCE, issuer=ISSUER)
    except jwt.PyJWTError:
        return None
    return claims if claims.get("token_type") == token_type else None


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        data = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def refresh(environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    raw = _body(environ).get("refresh")
    claims = _decode(raw, "refresh") if isinstance(raw, str) else None
    if claims is None:
        return 401, {"detail": "invalid token", "code": "token_invalid"}
    new_jti = uuid.uuid4().hex
    row = (
        _db()
        .execute(REFRESH_SQL, {"new": new_jti, "old": claims["jti"], "sid": claims["sid"]})
        .fetchone()
    )
    if row is None:
        return 401, {"detail": "reused or revoked", "code": "token_reused"}
    return 200, _tokens(str(row[0]), str(row[1]), new_jti)


def login(environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = _body(environ)
    row = (
        _db()
        .execute(
            "SELECT id, password FROM floor_user WHERE email = %s", [str(body.get("email", ""))]
        )
        .fetchone()
    )
    try:
        if row is None or not _HASHER.verify(row[1], str(body.get("password", ""))):
            raise VerificationError
    except VerificationError:
        return 401, {"detail": "invalid credentials", "code": "invalid_credentials"}
    sid, jti = uuid.uuid4(), uuid.uuid4().hex
    _db().execute(LOGIN_SQL, {"sid": sid, "uid": row[0], "jti": jti}).fetchone()
    return 200, _tokens(str(sid), str(row[0]), jti)


def me(environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    claims = _decode(token, "access") if scheme == "Bearer" else None
    if claims is None:
        return 401, {"detail": "authentication required", "code": "not_authenticated"}
    return 200, {"id": claims["sub"], "sid": claims["sid"]}


ROUTES = {
    ("GET", "/ping"): lambda environ: (200, {"status": "ok"}),
    ("GET", "/me"): me,
    ("POST", "/login"): login,
    ("POST", "/refresh"): refresh,
}
REASONS = {200: "200 OK", 401: "401 Unauthorized", 404: "404 Not Found"}


def app(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
    handler = ROUTES.get((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
    status, payload = handler(environ) if handler else (404, {"detail": "not found"})
    data = json.dumps(payload).encode()
    start_response(
        REASONS[status],
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def setup(email: str, password: str) -> None:
    """Create the signing key, the tables and the bench user
    (``python floor_app.py EMAIL PASSWORD``)."""
    if not KEY_FILE.exists():
        KEY_FILE.parent.mkdir(exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        KEY_FILE.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(
            "INSERT INTO floor_user (id, email, password) VALUES (%s, %s, %s)"
            " ON CONFLICT (email) DO UPDATE SET password = EXCLUDED.password",
            [uuid.uuid4(), email, _HASHER.hash(password)],
        )


if __name__ == "__main__":
    import sys

    setup(sys.argv[1], sys.argv[2])
