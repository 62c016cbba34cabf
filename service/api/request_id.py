"""Request ids: the client's X-Request-ID when it is sensible, otherwise a fresh one."""

import uuid

HEADER = "X-Request-ID"
ENVIRON_KEY = "HTTP_X_REQUEST_ID"


def resolve_request_id(incoming: str | None) -> str:
    if incoming and len(incoming) <= 128 and incoming.isprintable():
        return incoming
    return uuid.uuid4().hex
