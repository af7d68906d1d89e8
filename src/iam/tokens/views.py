from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from iam.core.conf import iam_settings
from iam.tokens.keys import jwks_document


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    """The published keys (next, active, retired) as an RFC 7517 JWK Set."""
    response = HttpResponse(jwks_document(), content_type="application/jwk-set+json")
    response["Cache-Control"] = f"public, max-age={iam_settings.jwks_max_age}"
    return response


# Every access-token claim the IAM issues (user tokens, service tokens); see docs/jwt-contract.md.
CLAIMS_SUPPORTED = (
    "iss",
    "aud",
    "sub",
    "exp",
    "iat",
    "jti",
    "token_type",
    "sid",
    "email",
    "email_verified",
    "amr",
    "auth_time",
    "is_staff",
    "tid",
    "tenant",
    "roles",
    "perms",
    "client_id",
    "scope",
)
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


@require_GET
def openid_configuration(request: HttpRequest) -> JsonResponse:
    """Discovery: where the keys are and what the OAuth endpoints take (built from the issuer).

    Only what is served: there is no authorization endpoint, no ID token, no OpenID Connect
    UserInfo or RP-initiated logout, so none of their fields appear (docs/api.md, Discovery)."""
    issuer = iam_settings.issuer.rstrip("/")
    response = JsonResponse(
        {
            "issuer": iam_settings.issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "token_endpoint": f"{issuer}/api/oauth/token/",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "introspection_endpoint": f"{issuer}/api/oauth/introspect/",
            "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "revocation_endpoint": f"{issuer}/api/oauth/revoke/",
            "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "claims_supported": list(CLAIMS_SUPPORTED),
        }
    )
    response["Cache-Control"] = f"public, max-age={iam_settings.jwks_max_age}"
    return response
