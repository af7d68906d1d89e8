from django.urls import include, path

from iam.accounts.apis import MeApi
from iam.audit.apis import SecurityLogApi
from iam.authn import apis
from iam.sessions.urls import tenant_urlpatterns

urlpatterns = [
    path("csrf/", apis.CsrfApi.as_view(), name="auth-csrf"),
    path("login/", apis.LoginApi.as_view(), name="auth-login"),
    path("login/mfa/", apis.LoginMfaApi.as_view(), name="auth-login-mfa"),
    path("refresh/", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("verify/", apis.VerifyApi.as_view(), name="auth-verify"),
    path("logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path("me/", MeApi.as_view(), name="auth-me"),
    path("mfa/", include("iam.mfa.urls")),
    path("security-log/", SecurityLogApi.as_view(), name="auth-security-log"),
    path("", include("iam.sessions.urls")),
    path("", include("iam.accounts.urls")),
    path("", include(tenant_urlpatterns)),
]

# Compatibility endpoints under /api/token/ (stock SimpleJWT and the plan's names).
compat_urlpatterns = [
    path("", apis.CompatTokenObtainApi.as_view(), name="token-obtain"),
    path("refresh/", apis.CompatTokenRefreshApi.as_view(), name="token-refresh"),
    path("verify/", apis.CompatTokenVerifyApi.as_view(), name="token-verify"),
    path("blacklist/", apis.CompatTokenBlacklistApi.as_view(), name="token-blacklist"),
    path("revoke/", apis.CompatTokenRevokeApi.as_view(), name="token-revoke"),
    path("revoke-all/", apis.CompatTokenRevokeAllApi.as_view(), name="token-revoke-all"),
]
