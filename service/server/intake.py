"""One connection's requests, gathered whole from bytes as they arrive (httptools' C parser).

The event loop feeds whatever a socket gives; a request leaves here only once its headers and
its whole body are in, so no thread ever waits on a client. Limits apply while gathering: headers
past `max_header_bytes` answer 431, a body past `max_body_bytes` answers 413 as soon as its
Content-Length (or the chunks so far) says so, without reading the rest.
"""

from collections import deque
from dataclasses import dataclass

import httptools


@dataclass(slots=True)
class Request:
    method: str
    target: bytes  # as sent: origin form (/path?query) or absolute form
    version: str  # "1.0" or "1.1"
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool


class Refusal(Exception):
    """A request that cannot be served: its status and what was wrong. The connection closes after."""

    def __init__(self, status: int, message: str, method: str = "", target: bytes = b""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.method = method
        self.target = target


class RequestReader:
    """Feed it bytes; complete requests wait in `ready`, in the order they were sent."""

    def __init__(self, *, max_header_bytes: int, max_body_bytes: int):
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.ready: deque[Request] = deque()
        self.started = False  # some of the next request is in
        self.in_body = False  # its headers are complete, its body is not
        self.wants_continue = False  # its headers asked for "100 Continue" and no body byte came yet
        self._parser = httptools.HttpRequestParser(self)
        self._header_bytes = 0
        self._refusal: Refusal | None = None
        self._reset()

    def feed(self, data: bytes) -> None:
        """Parse what arrived; raises Refusal when the request is malformed or over a limit."""
        if not self.in_body:
            self._header_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise self._refusal from None
        except httptools.HttpParserUpgrade:
            # a protocol switch is not offered: a request complete by now is served, then the
            # connection closes
            if self.ready:
                self.ready[-1].keep_alive = False
            elif self.started:
                raise Refusal(400, "protocol upgrades are not supported", self._method(), self._url) from None
        except httptools.HttpParserError as error:
            raise Refusal(400, f"malformed HTTP request: {error}", self._method(), self._url) from None
        if self.started and not self.in_body and self._header_bytes > self.max_header_bytes:
            raise Refusal(
                431,
                f"request headers are larger than the limit of {self.max_header_bytes} bytes "
                "(LAYERSERVE_MAX_HEADER_BYTES)",
                self._method(),
                self._url,
            )

    # --- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.started = True

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:  # whole, even when split across reads
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_body = True
        self._header_bytes = 0
        declared = self._parser.get_method() != b"HEAD" and self._content_length()
        if declared is not None and declared > self.max_body_bytes:
            self._refuse_body()
        self.wants_continue = any(
            name.lower() == b"expect" and value.lower() == b"100-continue" for name, value in self._headers
        )

    def on_body(self, chunk: bytes) -> None:
        self.wants_continue = False
        self._body_size += len(chunk)
        if self._body_size > self.max_body_bytes:
            self._refuse_body()
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        self.ready.append(
            Request(
                method=self._method(),
                target=self._url,
                version=self._parser.get_http_version(),
                headers=self._headers,
                body=b"".join(self._body),
                keep_alive=self._parser.should_keep_alive(),
            )
        )
        self._reset()

    # --- helpers ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.started = self.in_body = self.wants_continue = False
        self._header_bytes = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0

    def _method(self) -> str:
        try:
            return self._parser.get_method().decode("latin-1")
        except httptools.HttpParserError:
            return ""

    def _content_length(self) -> int | None:
        for name, value in self._headers:
            if name.lower() == b"content-length" and value.strip().isdigit():
                return int(value)
        return None

    def _refuse_body(self) -> None:
        self._refusal = Refusal(
            413,
            f"request body is larger than the limit of {self.max_body_bytes} bytes (LAYERSERVE_MAX_BODY_BYTES)",
            self._method(),
            self._url,
        )
        raise self._refusal
