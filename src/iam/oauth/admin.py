from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from iam.oauth.models import ServiceClient
from iam.oauth.services import (
    service_client_id_new,
    service_client_rotate_secret,
    service_client_secret_new,
)


@admin.register(ServiceClient)
class ServiceClientAdmin(admin.ModelAdmin):
    list_display = ("client_id", "name", "is_active", "can_introspect", "tenant", "created_at")
    list_filter = ("is_active", "can_introspect")
    search_fields = ("client_id", "name")
    readonly_fields = ("client_id", "created_at", "secret_rotated_at")
    actions = ["rotate_secret"]

    def save_model(self, request: HttpRequest, obj: ServiceClient, form: Any, change: bool) -> None:
        if not change:  # a new client: make its id and secret, show the secret once
            obj.client_id = service_client_id_new()
            secret, obj.secret_hash = service_client_secret_new()
            super().save_model(request, obj, form, change)
            messages.warning(
                request,
                f"Client {obj.client_id} created. Its secret, shown only now: {secret}",
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Rotate the secret (the old one stops working at once)")
    def rotate_secret(self, request: HttpRequest, queryset: Any) -> None:
        for client in queryset:
            secret = service_client_rotate_secret(client=client)
            messages.warning(
                request, f"New secret for {client.client_id}, shown only now: {secret}"
            )
