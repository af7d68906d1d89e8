"""orders-api's views **before** the move: authorisation read from the plan's custom claims
(``role``, ``permissions``, ``tenant_id``) that the auth server added to its tokens."""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def needs_permission(name: str) -> type[BasePermission]:
    class NeedsPermission(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return request.auth is not None and name in request.auth.get("permissions", [])

    return NeedsPermission


class Me(APIView):
    def get(self, request: Request) -> Response:
        token = request.auth
        return Response(
            {
                "user": str(token["user_id"]),
                "tenant": token.get("tenant_id"),
                "roles": [token["role"]] if token.get("role") else [],
            }
        )


class Invoices(APIView):
    permission_classes = [needs_permission("billing.read")]

    def get(self, request: Request) -> Response:
        tenant = request.auth["tenant_id"]
        return Response({"tenant": tenant, "invoices": [{"number": "INV-1", "total": "42.00"}]})


class Health(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


urlpatterns = [
    path("api/me/", Me.as_view()),
    path("api/invoices/", Invoices.as_view()),
    path("healthz", Health.as_view()),
]
