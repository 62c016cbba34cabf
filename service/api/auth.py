"""Who may do what: bearer tokens for the repository (admin) endpoints and, optionally, for inference.

Tokens come from LAYERSERVE_ADMIN_TOKEN and LAYERSERVE_INFER_TOKEN. Without an admin token the
repository endpoints are disabled; without an inference token inference is open. Tokens are
compared in constant time, over their SHA-256 digests so that not even their length leaks.
"""

import hashlib
import hmac

from ..errors import Forbidden, Unauthorized

ADMIN_VARIABLE = "LAYERSERVE_ADMIN_TOKEN"

# OpenAPI for inference (infer, trace, :predict): open, or a bearer token when LAYERSERVE_INFER_TOKEN is set.
INFERENCE_SECURITY = [{}, {"bearer": []}]
INFERENCE_UNAUTHORIZED = "LAYERSERVE_INFER_TOKEN is set and the request has no valid bearer token"


class BearerToken:
    def __init__(self, token: str, what: str):
        self._digest = hashlib.sha256(token.encode()).digest() if token else None
        self.what = what

    @property
    def enabled(self) -> bool:
        return self._digest is not None

    def check(self, authorization: str | None) -> None:
        """Raise unless `authorization` (the header's value) carries this token."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Unauthorized(f"{self.what} needs a bearer token (Authorization: Bearer <token>)")
        if not hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), self._digest):
            raise Unauthorized(f"{self.what}: the bearer token is not valid")


class AdminToken(BearerToken):
    def __init__(self, token: str):
        super().__init__(token, "the repository endpoints")

    def check(self, authorization: str | None) -> None:
        if not self.enabled:
            raise Forbidden(f"the repository endpoints are disabled; set {ADMIN_VARIABLE} to enable them")
        super().check(authorization)


class InferenceToken(BearerToken):
    def __init__(self, token: str):
        super().__init__(token, "inference")

    def check(self, authorization: str | None) -> None:
        if self.enabled:
            super().check(authorization)
