"""Verify IAM access tokens locally; DRF and ASGI glue; a client-credentials token source.

from iam_client import Verifier

verifier = Verifier("https://iam.example.com", "orders-api")
principal = verifier.verify(token)  # Principal, or a TokenError with a stable .code
"""

from iam_client.errors import (
    JWKSUnavailable,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenRequestError,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)
from iam_client.jwks import FetchRequired, KeySet
from iam_client.principal import Principal
from iam_client.token_source import ClientCredentials
from iam_client.verifier import Verifier

__version__ = "0.1.0"

__all__ = [
    "ClientCredentials",
    "FetchRequired",
    "JWKSUnavailable",
    "KeySet",
    "Principal",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenRequestError",
    "UnknownKey",
    "Verifier",
    "WrongAudience",
    "WrongIssuer",
    "WrongTokenType",
    "__version__",
]
