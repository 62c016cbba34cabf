"""One exception tree for the whole service; each class knows its HTTP status."""


class ServiceError(Exception):
    """Root of every error the service reports to a client."""

    status = 500
    headers: tuple[tuple[str, str], ...] = ()  # sent with the error response

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    status = 400


class HttpError(ServiceError):
    """A client error found by the HTTP layer itself (werkzeug), with its own status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class NotFound(ServiceError):
    status = 404


class MethodNotAllowed(ServiceError):
    status = 405

    def __init__(self, method: str, path: str, allowed: list[str]):
        super().__init__(f"method {method} is not allowed on {path}; allowed: {', '.join(sorted(allowed))}")
        self.headers = (("Allow", ", ".join(sorted(allowed))),)


class Unauthorized(ServiceError):
    """No valid bearer token: the client may retry with one."""

    status = 401
    headers = (("WWW-Authenticate", 'Bearer realm="layerserve"'),)


class Forbidden(ServiceError):
    status = 403


class PayloadTooLarge(ServiceError):
    status = 413


class BodyTooLarge(PayloadTooLarge):
    def __init__(self, limit: int):
        super().__init__(f"request body is larger than the limit of {limit} bytes (LAYERSERVE_MAX_BODY_BYTES)")


class UnsupportedMediaType(ServiceError):
    status = 415


class NotReady(ServiceError):
    status = 503


class DefinitionError(BadRequest):
    """A model folder that cannot be loaded: its message names the file, layer and field."""


class UnknownModel(NotFound):
    def __init__(self, name: str, known: list[str]):
        listing = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown model {name!r}; known models: {listing}")


class UnknownVersion(NotFound):
    def __init__(self, name: str, version: str, versions: list[str]):
        super().__init__(f"model {name!r} has no version {version!r}; versions: {', '.join(versions)}")


class UnknownLayer(NotFound):
    def __init__(self, model: str, ref: str, names: list[str]):
        super().__init__(
            f"model {model!r} has no layer {ref!r}; layers (by name or index 0-{len(names) - 1}): " + ", ".join(names)
        )


class InferenceTimeout(ServiceError):
    status = 504  # gRPC's DEADLINE_EXCEEDED maps to it; 503 would invite a retry of the same long work

    def __init__(self, seconds: float, next_layer: str):
        super().__init__(
            f"inference ran past the time limit of {seconds:g} s (LAYERSERVE_INFER_TIMEOUT) "
            f"and was stopped before layer {next_layer!r}"
        )


class ModelNotReady(NotReady):
    def __init__(self, name: str, reason: str):
        super().__init__(f"model {name!r} is not ready: {reason}")


class ConversionError(ServiceError):
    """A model that `layerserve import` or `export` cannot convert; raised by the CLI, never over HTTP."""
