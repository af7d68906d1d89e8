from django.urls import path

from iam.oauth import apis

urlpatterns = [
    path("token/", apis.TokenApi.as_view(), name="oauth-token"),
    path("introspect/", apis.IntrospectApi.as_view(), name="oauth-introspect"),
    path("revoke/", apis.RevokeApi.as_view(), name="oauth-revoke"),
]
