from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class PingView(APIView):
    """Unauthenticated baseline: the cheapest DRF request the server can answer."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


class MeView(APIView):
    """Bearer-authenticated (default JWTAuthentication + IsAuthenticated)."""

    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.get_username()})
