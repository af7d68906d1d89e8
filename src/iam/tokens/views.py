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


@require_GET
def openid_configuration(request: HttpRequest) -> JsonResponse:
    """Discovery: where the keys are and which endpoints issue tokens (built from the issuer)."""
    issuer = iam_settings.issuer.rstrip("/")
    response = JsonResponse(
        {
            "issuer": iam_settings.issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "token_endpoint": f"{issuer}/api/oauth/token/",
            "introspection_endpoint": f"{issuer}/api/oauth/introspect/",
            "revocation_endpoint": f"{issuer}/api/oauth/revoke/",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "userinfo_endpoint": f"{issuer}/api/auth/me/",
            "end_session_endpoint": f"{issuer}/api/auth/logout/",
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "claims_supported": [
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
            ],
        }
    )
    response["Cache-Control"] = f"public, max-age={iam_settings.jwks_max_age}"
    return response
