"""Answering a request after its thread has moved on.

A request to a dynamically batched model spends most of its life waiting for its batch. When
the server offers it (layerserve's worker does), the app takes `environ[ENVIRON_KEY]()`, a
function that sends the answer whenever it is called, from any thread, once; returns LATER
instead of a body; and the request thread is free for the next request. The batch then grows
with the number of requests waiting, not with the number of threads. Under any other WSGI
server the key is absent and the app answers in the thread, as usual.
"""

from collections.abc import Callable

ENVIRON_KEY = "layerserve.answer_later"

# status line ("200 OK"), headers, body
Answer = Callable[[str, list[tuple[str, str]], bytes], None]


class _Later(list):
    """The body an app returns when it answers through the function it took from the environ."""


LATER = _Later()
