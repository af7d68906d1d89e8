from django.urls import path

from iam.sessions import apis

urlpatterns = [
    path("sessions/", apis.SessionListApi.as_view(), name="sessions-list"),
    path("sessions/<str:session_id>/", apis.SessionRevokeApi.as_view(), name="sessions-revoke"),
    path("logout-all/", apis.LogoutAllApi.as_view(), name="sessions-logout-all"),
]

# under /api/auth/, after the accounts' endpoints
tenant_urlpatterns = [
    path("tenant/switch/", apis.TenantSwitchApi.as_view(), name="auth-tenant-switch"),
]
