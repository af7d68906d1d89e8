"""A tenant-owned resource served by generic views with TenantScopedMixin (tests only)."""

from django.urls import include, path
from rest_framework import generics, serializers

from iam.tenancy.models import Invitation
from iam.tenancy.views import TenantScopedMixin


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "tenant", "expires_at"]
        read_only_fields = ["id", "tenant"]


class NoteList(TenantScopedMixin, generics.ListCreateAPIView):
    queryset = Invitation.objects.all()
    serializer_class = NoteSerializer


class NoteDetail(TenantScopedMixin, generics.RetrieveUpdateDestroyAPIView):
    queryset = Invitation.objects.all()
    serializer_class = NoteSerializer


urlpatterns = [
    path("scoped/", NoteList.as_view()),
    path("scoped/<uuid:pk>/", NoteDetail.as_view()),
    path("", include("config.urls")),
]
