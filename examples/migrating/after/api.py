"""orders-api's views **after** the move: the same endpoints and answers, authorised with the
IAM's claims (``sub``, ``tid``, ``roles``, ``perms``) through iam-client's permission classes."""

from __future__ import annotations

from django.urls import path
from iam_client.contrib.drf import HasPermission, IsUser, principal_of
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class Me(APIView):
    permission_classes = [IsUser]

    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        return Response(
            {
                "user": principal.subject,
                "tenant": principal.tenant_id,
                "roles": list(principal.roles),
            }
        )


class Invoices(APIView):
    permission_classes = [HasPermission("billing.read")]  # denies tokens without a tenant too

    def get(self, request: Request) -> Response:
        tenant = principal_of(request).tenant_id
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
