"""The signed-in user's security log: their own audit events, newest first."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from iam.audit.selectors import security_log_for_user, user_visible_data
from iam.core.apis import NoStoreAPIView
from iam.core.devices import DeviceSerializer


class SecurityLogPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset: QuerySet, request: Any, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, OverflowError) as exc:
            # a cursor whose position is not a time (hand-edited): as invalid as a garbled one
            raise NotFound(self.invalid_cursor_message) from exc


class SecurityLogApi(NoStoreAPIView, generics.ListAPIView):
    """Paginated by cursor (``next``/``previous`` links; ``page_size`` up to 100)."""

    pagination_class = SecurityLogPagination

    class EventOutput(serializers.Serializer):
        id = serializers.IntegerField()
        event = serializers.CharField(source="type", help_text='e.g. "user:login:failed"')
        at = serializers.DateTimeField(source="created_at")
        ip = serializers.IPAddressField(allow_null=True)
        user_agent = serializers.CharField()
        device = DeviceSerializer(source="user_agent")
        session_id = serializers.UUIDField(allow_null=True)
        current_session = serializers.SerializerMethodField()
        details = serializers.SerializerMethodField(
            help_text="what the event says about itself (reason, transport, tenant, ...)"
        )

        def get_current_session(self, event: Any) -> bool:
            return event.session_id is not None and str(event.session_id) == self.context["sid"]

        def get_details(self, event: Any) -> dict[str, Any]:
            return user_visible_data(event.data)

    serializer_class = EventOutput

    def get_queryset(self) -> QuerySet:
        return security_log_for_user(user_id=self.request.user.pk)

    def get_serializer_context(self) -> dict[str, Any]:
        auth = self.request.auth
        return {**super().get_serializer_context(), "sid": str(auth.get("sid") if auth else "")}

    @extend_schema(summary="My security log: sign-ins, failures, password, MFA, session events")
    def get(self, *args: Any, **kwargs: Any) -> Any:
        return super().get(*args, **kwargs)
