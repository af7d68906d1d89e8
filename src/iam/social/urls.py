from django.urls import path

from iam.social import apis

urlpatterns = [
    path("providers/", apis.ProvidersApi.as_view(), name="social-providers"),
    path("link/", apis.SocialLinkApi.as_view(), name="social-link"),
    path("identities/", apis.IdentitiesApi.as_view(), name="social-identities"),
    path("identities/<str:identity_id>/", apis.IdentityApi.as_view(), name="social-identity"),
    path("<slug:provider>/begin/", apis.SocialBeginApi.as_view(), name="social-begin"),
    path("<slug:provider>/callback/", apis.SocialCallbackApi.as_view(), name="social-callback"),
    path("<slug:provider>/token/", apis.SocialTokenApi.as_view(), name="social-token"),
]
