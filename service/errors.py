"""One exception tree for the whole service; each class knows its HTTP status.

Also `clip`, the one way a client-supplied value enters a message or a log line.
"""

# A value a client sent is quoted at most this long in an answer or a log line: enough to
# recognise it, never enough to make an error bigger than the request that caused it.
CLIP_CHARS = 100
CLIP_ITEMS = 8
# Whatever a message is made of, an answer or a log line carries at most this much of it.
MAX_MESSAGE_CHARS = 2000


def cut(text: str, limit: int = CLIP_CHARS) -> str:
    """`text` itself, or its first `limit` characters followed by its size."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text.encode('utf-8', 'surrogatepass')):,} bytes)"


def clip(value) -> str:
    """`value` as a message quotes it: repr for strings, lists item by item, long ones cut with their size."""
    if isinstance(value, str):
        if len(value) <= CLIP_CHARS:
            return repr(value)
        return f"{value[:CLIP_CHARS]!r}{cut(value)[CLIP_CHARS:]}"
    if isinstance(value, (list, tuple)):
        items = ", ".join(clip(item) for item in value[:CLIP_ITEMS])
        if len(value) <= CLIP_ITEMS:
            return f"[{items}]"
        return f"[{items}, …] ({len(value):,} items)"
    text = repr(value)
    return text if len(text) <= CLIP_CHARS else f"{text[:CLIP_CHARS]}… ({len(text):,} characters)"


def join_clipped(problems: list[str], separator: str = "; ") -> str:
    """Problems found in one request, the first few of them: one per unknown field could be millions."""
    shown = separator.join(problems[:CLIP_ITEMS])
    return shown if len(problems) <= CLIP_ITEMS else f"{shown}{separator}… ({len(problems):,} problems in all)"


class ServiceError(Exception):
    """Root of every error the service reports to a client."""

    status = 500
    headers: tuple[tuple[str, str], ...] = ()  # sent with the error response

    def __init__(self, message: str):
        message = cut(message, MAX_MESSAGE_CHARS)
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


class LoadTimeout(DefinitionError):
    def __init__(self, seconds: float, where: str):
        super().__init__(
            f"loading ran past the time limit of {seconds:g} s (LAYERSERVE_LOAD_TIMEOUT) and was abandoned {where}"
        )


class RequestTooLarge(PayloadTooLarge):
    """A batch that would make more values than a request may: the answer names the largest that fits."""

    def __init__(self, model: str, batch: int, what: str, needed: int, limit: int, variable: str, fits: int):
        super().__init__(
            f"a batch of {batch} for model {model!r} needs {needed:,} {what}, over the limit of {limit:,} "
            f"a request may make ({variable}); the largest batch that fits is {fits}"
        )


class OutOfMemory(ServiceError):
    """The machine could not allocate what a request needed: it may succeed when others finish."""

    status = 503

    def __init__(self, detail: str):
        super().__init__(f"the server is short of memory now: {detail}")


def allocation_failure(error: BaseException) -> OutOfMemory | None:
    """An allocation that failed, as the error to answer: numpy's MemoryError says what it tried
    ("Unable to allocate 38.1 GiB for an array with shape ..."), torch's allocator raises a
    RuntimeError ("DefaultCPUAllocator: not enough memory: you tried to allocate ... bytes", or
    "can't allocate memory" when the system refuses the mapping)."""
    text = str(error).strip()
    if isinstance(error, MemoryError):
        return OutOfMemory(text or "an allocation failed")
    if isinstance(error, RuntimeError) and "DefaultCPUAllocator" in text:
        return OutOfMemory(text[text.find("DefaultCPUAllocator") :])
    return None


class UnknownModel(NotFound):
    def __init__(self, name: str, known: list[str]):
        listing = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown model {clip(name)}; known models: {listing}")


class UnknownVersion(NotFound):
    def __init__(self, name: str, version: str, versions: list[str]):
        super().__init__(f"model {name!r} has no version {clip(version)}; versions: {', '.join(versions)}")


class UnknownLayer(NotFound):
    def __init__(self, model: str, ref: str, names: list[str]):
        super().__init__(
            f"model {model!r} has no layer {clip(ref)}; layers (by name or index 0-{len(names) - 1}): "
            + ", ".join(names)
        )


class InferenceTimeout(ServiceError):
    status = 504  # gRPC's DEADLINE_EXCEEDED maps to it; 503 would invite a retry of the same long work

    def __init__(self, seconds: float, next_layer: str, set_by: str):
        super().__init__(
            f"inference ran past the time limit of {seconds:g} s ({set_by}) and was stopped before layer {next_layer!r}"
        )


class ModelNotReady(NotReady):
    """Warming up: it serves soon, so a client may ask again."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"model {name!r} is not ready: {reason}")


class ModelUnavailable(BadRequest):
    """Failed to load, or unloaded: nothing changes until an operator acts, so asking again is
    pointless (400, as Triton answers; a 503 would invite retries)."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"model {name!r} is unavailable: {reason}")


class ConversionError(ServiceError):
    """A model that `layerserve import` or `export` cannot convert; raised by the CLI, never over HTTP."""
