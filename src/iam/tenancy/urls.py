from django.urls import path

from iam.tenancy import apis

# under /api/
urlpatterns = [
    path("tenants/", apis.MyTenantsApi.as_view(), name="tenants-mine"),
    path("tenant/", apis.CurrentTenantApi.as_view(), name="tenant-current"),
    path("tenant/roles/", apis.RolesApi.as_view(), name="tenant-roles"),
    path("tenant/members/", apis.MembersApi.as_view(), name="tenant-members"),
    path("tenant/members/<str:user_id>/", apis.MemberApi.as_view(), name="tenant-member"),
    path("tenant/invitations/", apis.InvitationsApi.as_view(), name="tenant-invitations"),
    path(
        "tenant/invitations/accept/",
        apis.InvitationAcceptApi.as_view(),
        name="tenant-invitation-accept",
    ),
    path(
        "tenant/invitations/<str:invitation_id>/",
        apis.InvitationApi.as_view(),
        name="tenant-invitation",
    ),
]
