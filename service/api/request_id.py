"""Request ids: the client's X-Request-ID when it is sensible, otherwise a fresh one."""

import itertools
import os
import secrets

HEADER = "X-Request-ID"
ENVIRON_KEY = "HTTP_X_REQUEST_ID"


class _Ids:
    """A random prefix per process and a counter: unique like a uuid4, without a syscall per request."""

    def __init__(self):
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # each worker gets its own prefix

    def reset(self):
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}-{next(self.counter):x}"


_ids = _Ids()


def resolve_request_id(incoming: str | None) -> str:
    if incoming and len(incoming) <= 128 and incoming.isprintable():
        return incoming
    return _ids.next()
