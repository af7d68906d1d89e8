from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from iam.authn.apis import CompatCookieRefreshApi, CompatTokenObtainAliasApi
from iam.authn.urls import compat_urlpatterns
from iam.core.apis import HealthzApi, ReadyzApi
from iam.core.metrics import metrics_view
from iam.tokens import views as token_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/social/", include("iam.social.urls")),
    path("api/auth/", include("iam.authn.urls")),
    path("api/token/", include(compat_urlpatterns)),
    # the plan's names (compatibility endpoints, deprecated: docs/api.md)
    path("api-token-auth/", CompatTokenObtainAliasApi.as_view(), name="token-obtain-alias"),
    path(
        "api/accounts/auth/token/refresh/",
        CompatCookieRefreshApi.as_view(),
        name="token-cookie-refresh",
    ),
    path("api/", include("iam.tenancy.urls")),
    path("api/oauth/", include("iam.oauth.urls")),
    path(".well-known/jwks.json", token_views.jwks, name="jwks"),
    path(".well-known/openid-configuration", token_views.openid_configuration, name="oidc-config"),
    path("healthz", HealthzApi.as_view(), name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("readyz", ReadyzApi.as_view(), name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="iam/swagger_ui.html"),
        name="docs",
    ),
    # the hosted pages and console (404 while IAM_UI_ENABLED is off)
    path("", include("iam.ui.urls")),
]

handler400 = "iam.core.errors.json_bad_request"
handler403 = "iam.core.errors.json_permission_denied"
handler404 = "iam.core.errors.json_not_found"
handler500 = "iam.core.errors.json_server_error"
