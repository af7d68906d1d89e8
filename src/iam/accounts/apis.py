from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from iam.accounts.serializers import UserSerializer, user_data
from iam.core.apis import NoStoreAPIView


class MeApi(NoStoreAPIView):
    """The signed-in user (either transport)."""

    @extend_schema(responses={200: UserSerializer}, summary="The current user")
    def get(self, request: Request) -> Response:
        return Response(user_data(request.user))
