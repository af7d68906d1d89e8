"""The framework floor: the floor's work (``floor_app.py``) done the way the mission's stack does
it, with Django, DRF views and SimpleJWT tokens, and nothing the IAM adds.

A measuring instrument, not a product. It answers one question: what does the stack itself
cost? The bare floor is the least work under the issue's locked decisions; this is the least
work under those decisions *and* the stack (Django's request and response, its signals and
security middleware, DRF's request, parsers, renderers and views, SimpleJWT's token objects and
backends). What the IAM costs beyond it is the IAM's own (limits, audit log line, CORS, CSRF,
tenants, metrics, request ids, sessions for the admin, claims); what it costs beyond the bare
floor that this also costs, no IAM on the stack can save.

* refresh: ``Token`` with an HS256 ``TokenBackend`` (SimpleJWT's class, its own secret) decodes
  and verifies, the floor's one statement through Django's cursor, an RS256 access token and an
  HS256 refresh token from SimpleJWT's token objects;
* login: the floor's ``SELECT``, its Argon2id verify and its one statement, then the same tokens;
* me: ``JWTStatelessUserAuthentication`` (the bearer token verified, no database);
* ping: a constant body from a DRF view.

SimpleJWT cannot put ``kid`` into a header (jazzband/djangorestframework-simplejwt#531): its
tokens carry ``typ: JWT`` only, some 30 bytes fewer than the floor's and the IAM's.

    DJANGO_SETTINGS_MODULE=floor_django_settings gunicorn -w 2 floor_django:application
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import django

django.setup()  # before the imports below: SimpleJWT's tokens import the auth models

import floor_app  # noqa: E402
from argon2.exceptions import VerificationError  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.permissions import IsAuthenticated  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication  # noqa: E402
from rest_framework_simplejwt.backends import TokenBackend  # noqa: E402
from rest_framework_simplejwt.exceptions import TokenError  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken, Token  # noqa: E402


class FloorRefreshToken(Token):
    """A refresh token signed with HS256 and the floor's secret, through SimpleJWT's own backend
    (kept by the class: its key is prepared once)."""

    token_type = "refresh"
    lifetime = timedelta(seconds=floor_app.REFRESH_LIFETIME)
    _token_backend = TokenBackend(
        "HS256",
        signing_key=floor_app._REFRESH_SECRET,  # type: ignore[arg-type]  # PyJWT takes bytes
        audience=floor_app.AUDIENCE,
        issuer=floor_app.ISSUER,
    )


def _error(code: str, detail: str) -> Response:
    return Response({"detail": detail, "code": code}, status=401)


def _tokens(session_id: str, user_id: str, jti: str) -> Response:
    access = AccessToken()
    access["sub"], access["sid"] = user_id, session_id
    refresh = FloorRefreshToken()
    refresh["sub"], refresh["sid"], refresh["jti"] = user_id, session_id, jti
    response = Response(
        {
            "token_type": "Bearer",
            "expires_in": floor_app.ACCESS_LIFETIME,
            "access": str(access),
            "refresh": str(refresh),
        }
    )
    response["Cache-Control"] = "no-store"  # a token response (RFC 6749, 5.1), as the IAM's
    return response


def _body(request: Request) -> dict[str, Any]:
    return request.data if isinstance(request.data, dict) else {}


class PingApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class MeApi(APIView):
    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        claims = request.auth
        return Response({"id": claims["sub"], "sid": claims["sid"]})


class LoginApi(APIView):
    def post(self, request: Request) -> Response:
        body = _body(request)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, password FROM floor_user WHERE email = %s", [str(body.get("email", ""))]
            )
            row = cursor.fetchone()
        try:
            if row is None or not floor_app._HASHER.verify(row[1], str(body.get("password", ""))):
                raise VerificationError
        except VerificationError:
            return _error("invalid_credentials", "invalid credentials")
        sid, jti = uuid.uuid4(), uuid.uuid4().hex
        with connection.cursor() as cursor:
            cursor.execute(floor_app.LOGIN_SQL, {"sid": sid, "uid": row[0], "jti": jti})
            cursor.fetchone()
        return _tokens(str(sid), str(row[0]), jti)


class RefreshApi(APIView):
    def post(self, request: Request) -> Response:
        raw = _body(request).get("refresh")
        try:
            token = FloorRefreshToken(raw) if isinstance(raw, str) else None
        except TokenError:
            token = None
        if token is None:
            return _error("token_invalid", "invalid token")
        new_jti = uuid.uuid4().hex
        with connection.cursor() as cursor:
            cursor.execute(
                floor_app.REFRESH_SQL, {"new": new_jti, "old": token["jti"], "sid": token["sid"]}
            )
            row = cursor.fetchone()
        if row is None:
            return _error("token_reused", "reused or revoked")
        return _tokens(str(row[0]), str(row[1]), new_jti)


urlpatterns = [
    path("ping", PingApi.as_view()),
    path("me", MeApi.as_view()),
    path("login", LoginApi.as_view()),
    path("refresh", RefreshApi.as_view()),
]

application = WSGIHandler()
