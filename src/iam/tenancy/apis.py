"""Tenant endpoints: my tenants, switching, and the administration of the request's tenant.

Admin endpoints act in ``request.tenant`` (the access token's tenant), guarded by permission
classes that read the token; the services re-check the actor's role in the database before any
write. Rows are always reached through ``for_tenant(request.tenant)``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from iam.core.apis import ERROR, NormalizedEmailField, NoStoreAPIView
from iam.core.exceptions import NotFound, NotTenantMember
from iam.core.http import client_info
from iam.tenancy import services
from iam.tenancy.models import Invitation, Tenant
from iam.tenancy.permissions import HasPermission, IsTenantMember
from iam.tenancy.selectors import is_uuid, members_of_tenant, memberships_of_user, roles_all

DENIED = OpenApiResponse(
    ERROR, description="not_a_member, missing_permission, role_above_own, tenant_mismatch"
)
UUID_PATH = OpenApiTypes.UUID


class TenantAdminAPIView(NoStoreAPIView):
    """Acts in the token's tenant, which must still be active (one query; these are not hot
    paths): a deactivated tenant's tokens stop working here at once, not at their expiry."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        tenant = getattr(request, "tenant", None)
        if tenant and not Tenant.objects.filter(pk=tenant.id, is_active=True).exists():
            raise NotTenantMember("This tenant is not active.")


class MyTenantOutput(serializers.Serializer):
    id = serializers.UUIDField(source="tenant.id")
    slug = serializers.CharField(source="tenant.slug")
    name = serializers.CharField(source="tenant.name")
    role = serializers.CharField(source="role.name")
    current = serializers.SerializerMethodField()

    def get_current(self, membership: Any) -> bool:
        return str(membership.tenant_id) == self.context.get("tid")


class MyTenantsApi(NoStoreAPIView):
    """The tenants the signed-in user belongs to; ``current`` marks the token's tenant."""

    @extend_schema(responses={200: MyTenantOutput(many=True)}, summary="My tenants")
    def get(self, request: Request) -> Response:
        context = {"tid": request.auth.get("tid")}
        memberships = memberships_of_user(user_id=request.user.pk)
        return Response(MyTenantOutput(memberships, many=True, context=context).data)


class CurrentTenantOutput(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "domain", "created_at"]
        read_only_fields = fields


class CurrentTenantApi(TenantAdminAPIView):
    """The tenant of the access token, with the caller's roles and permissions in it."""

    permission_classes = [HasPermission("tenant.read")]

    @extend_schema(responses={200: CurrentTenantOutput, 403: DENIED}, summary="This tenant")
    def get(self, request: Request) -> Response:
        tenant = Tenant.objects.filter(pk=request.tenant.id).first()
        if tenant is None:
            raise NotFound()
        body = dict(CurrentTenantOutput(tenant).data)
        body["roles"] = list(request.auth.get("roles", []))
        body["perms"] = list(request.auth.get("perms", []))
        return Response(body)


class RoleOutput(serializers.Serializer):
    name = serializers.CharField()
    rank = serializers.IntegerField()
    permissions = serializers.ListField(child=serializers.CharField())


class RolesApi(TenantAdminAPIView):
    """The roles a member can hold (shared by every tenant), highest rank first: read only."""

    permission_classes = [HasPermission("tenant.read")]

    @extend_schema(responses={200: RoleOutput(many=True), 403: DENIED}, summary="Roles")
    def get(self, request: Request) -> Response:
        return Response(RoleOutput(roles_all(), many=True).data)


class MemberOutput(serializers.Serializer):
    user_id = serializers.UUIDField()
    email = serializers.EmailField(source="user.email")
    username = serializers.CharField(source="user.username", allow_null=True)
    name = serializers.CharField(source="user.name")
    role = serializers.CharField(source="role.name")
    joined_at = serializers.DateTimeField(source="created_at")


class MembersApi(TenantAdminAPIView):
    """Members of the request's tenant, highest role first."""

    permission_classes = [HasPermission("members.read")]

    @extend_schema(responses={200: MemberOutput(many=True), 403: DENIED}, summary="Members")
    def get(self, request: Request) -> Response:
        return Response(MemberOutput(members_of_tenant(tenant=request.tenant), many=True).data)


class MemberApi(TenantAdminAPIView):
    """Change a member's role, or remove a member (removing yourself is leaving)."""

    class MemberRoleInput(serializers.Serializer):
        role = serializers.SlugField(max_length=50)

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "DELETE":  # leaving needs membership only; the service decides
            return [IsTenantMember()]
        return [HasPermission("members.manage")]

    @extend_schema(
        request=MemberRoleInput,
        parameters=[OpenApiParameter("user_id", UUID_PATH, OpenApiParameter.PATH)],
        responses={
            200: MemberOutput,
            400: OpenApiResponse(ERROR, description="unknown_role"),
            403: DENIED,
            404: ERROR,
            409: OpenApiResponse(ERROR, description="last_owner"),
        },
        summary="Change a member's role (never above your own)",
    )
    def patch(self, request: Request, user_id: str) -> Response:
        if not is_uuid(user_id):
            raise NotFound("No such member.")
        data = self.MemberRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_role_change(
            actor=request.user,
            tenant_id=request.tenant.id,
            user_id=user_id,
            role_name=data.validated_data["role"],
            client=client_info(request),
        )
        membership = members_of_tenant(tenant=request.tenant).get(pk=membership.pk)
        return Response(MemberOutput(membership).data)

    @extend_schema(
        parameters=[OpenApiParameter("user_id", UUID_PATH, OpenApiParameter.PATH)],
        responses={204: None, 403: DENIED, 404: ERROR, 409: ERROR},
        summary="Remove a member, or leave (your own id); their sessions in this tenant end",
    )
    def delete(self, request: Request, user_id: str) -> Response:
        if not is_uuid(user_id):
            raise NotFound("No such member.")
        services.member_remove(
            actor=request.user,
            tenant_id=request.tenant.id,
            user_id=user_id,
            client=client_info(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationOutput(serializers.ModelSerializer):
    role = serializers.CharField(source="role.name")
    invited_by = serializers.UUIDField(source="invited_by_id", allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]
        read_only_fields = fields


class InvitationsApi(TenantAdminAPIView):
    """Open invitations of the request's tenant; invite an address."""

    permission_classes = [HasPermission("members.invite")]

    class InvitationInput(serializers.Serializer):
        email = NormalizedEmailField()
        role = serializers.SlugField(max_length=50, required=False)

    @extend_schema(responses={200: InvitationOutput(many=True), 403: DENIED})
    def get(self, request: Request) -> Response:
        open_invitations = (
            Invitation.objects.for_tenant(request.tenant)
            .filter(accepted_at__isnull=True, revoked_at__isnull=True)
            .select_related("role")
            .order_by("-created_at")
        )
        return Response(InvitationOutput(open_invitations, many=True).data)

    @extend_schema(
        request=InvitationInput,
        responses={
            201: InvitationOutput,
            400: OpenApiResponse(ERROR, description="unknown_role, invalid"),
            403: DENIED,
            409: OpenApiResponse(ERROR, description="already_member"),
        },
        summary="Invite an address (role `member` unless given; never above your own)",
    )
    def post(self, request: Request) -> Response:
        data = self.InvitationInput(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            actor=request.user,
            tenant_id=request.tenant.id,
            email=data.validated_data["email"],
            role_name=data.validated_data.get("role"),
            client=client_info(request),
        )
        return Response(InvitationOutput(invitation).data, status=status.HTTP_201_CREATED)


class InvitationApi(TenantAdminAPIView):
    permission_classes = [HasPermission("members.invite")]

    @extend_schema(
        parameters=[OpenApiParameter("invitation_id", UUID_PATH, OpenApiParameter.PATH)],
        responses={204: None, 403: DENIED, 404: ERROR},
        summary="Revoke an open invitation",
    )
    def delete(self, request: Request, invitation_id: str) -> Response:
        if not is_uuid(invitation_id):
            raise NotFound("No such open invitation.")
        services.invitation_revoke(
            actor=request.user,
            tenant_id=request.tenant.id,
            invitation_id=invitation_id,
            client=client_info(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptApi(NoStoreAPIView):
    """Join the tenant of an invitation: signed in with the invited (verified) address."""

    class InvitationAcceptInput(serializers.Serializer):
        token = serializers.CharField(max_length=1024)

    @extend_schema(
        request=InvitationAcceptInput,
        responses={
            200: MyTenantOutput,
            400: OpenApiResponse(ERROR, description="token_invalid, token_expired, token_used"),
            403: OpenApiResponse(ERROR, description="invitation_email_mismatch"),
            409: OpenApiResponse(ERROR, description="already_member"),
        },
        summary="Accept an invitation (then switch to the tenant to act in it)",
    )
    def post(self, request: Request) -> Response:
        data = self.InvitationAcceptInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.invitation_accept(
            user=request.user, token=data.validated_data["token"], client=client_info(request)
        )
        return Response(MyTenantOutput(membership, context={"tid": None}).data)
