from drf_spectacular.extensions import OpenApiAuthenticationExtension

from iam.core.conf import iam_settings


class IAMAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "iam.authn.authentication.IAMAuthentication"
    name = ["bearerAuth", "cookieAuth"]

    def get_security_definition(self, auto_schema: object) -> list[dict]:
        return [
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            {"type": "apiKey", "in": "cookie", "name": iam_settings.access_cookie_name},
        ]
