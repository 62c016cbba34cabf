"""A whole request through the WSGI app, and its answer as the bytes to send (PEP 3333)."""

import io
import logging
import sys
import time
from email.utils import formatdate
from urllib.parse import unquote_to_bytes

import httptools

from ..sharing.answer_later import ENVIRON_KEY as ANSWER_LATER
from ..sharing.answer_later import LATER
from .intake import Request

log = logging.getLogger(__name__)

_STATUS_TEXT = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class WsgiBridge:
    def __init__(self, app, *, server_name: str, server_port: str, url_scheme: str = "http"):
        self.app = app
        self._base = {
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "SCRIPT_NAME": "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url_scheme,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,  # the body is whole: read it to its end
        }

    def respond(self, request: Request, peer: tuple, deliver=None) -> tuple[bytes, bool] | None:
        """The answer's bytes (status line, headers, body) and whether the connection stays open.

        With `deliver`, the app may answer later, from another thread (sharing/answer_later.py):
        then this returns None and `deliver(answer_bytes, keep_alive)` is called once it does."""
        environ = self.environ(request, peer)
        if deliver is not None:
            environ[ANSWER_LATER] = lambda: self._later(request, deliver)
        started: list = []

        def start_response(status, headers, exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]

        try:
            chunks = self.app(environ, start_response)
            if chunks is LATER:
                return None
            try:
                body = b"".join(chunks)
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
        except Exception:
            log.exception("the app failed on %s %r", request.method, request.target)
            return plain_answer(500, b'{"error": "internal error; see the server log"}', False), False
        status, headers = started
        return self._answer(request, status, headers, body), request.keep_alive

    def _later(self, request: Request, deliver):
        def answer(status: str, headers: list, body: bytes) -> None:
            deliver(self._answer(request, status, headers, body), request.keep_alive)

        return answer

    def environ(self, request: Request, peer: tuple) -> dict:
        target = request.target
        if not target.startswith(b"/"):
            try:
                url = httptools.parse_url(target)
                target = (url.path or b"/") + (b"?" + url.query if url.query else b"")
            except httptools.HttpParserInvalidURLError:
                pass
        path, _, query = target.partition(b"?")
        environ = {
            **self._base,
            "REQUEST_METHOD": request.method,
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": request.target.decode("latin-1"),
            "SERVER_PROTOCOL": f"HTTP/{request.version}",
            "REMOTE_ADDR": peer[0] if peer else "",
            "REMOTE_PORT": str(peer[1]) if peer else "",
            "CONTENT_LENGTH": str(len(request.body)),
            "wsgi.input": io.BytesIO(request.body),
        }
        for raw_name, raw_value in request.headers:
            name = raw_name.decode("latin-1").upper()
            if "_" in name:
                continue  # X_Forwarded_For could pose as X-Forwarded-For: such headers are dropped
            value = raw_value.decode("latin-1")
            if name == "CONTENT-TYPE":
                environ["CONTENT_TYPE"] = value
                continue
            if name in ("CONTENT-LENGTH", "TRANSFER-ENCODING"):
                continue  # the body is whole: its length is what came
            key = "HTTP_" + name.replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _answer(self, request: Request, status: str, headers: list, body: bytes) -> bytes:
        lines = [f"HTTP/1.1 {status}\r\n"]
        has_length = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                has_length = True
            elif lowered in ("connection", "transfer-encoding", "keep-alive"):
                continue  # hop-by-hop: this server decides them
            lines.append(f"{name}: {value}\r\n")
        if not has_length:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append(f"Date: {http_date()}\r\n")
        if not request.keep_alive:
            lines.append("Connection: close\r\n")
        elif request.version == "1.0":
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        return head if request.method == "HEAD" else head + body


def plain_answer(status: int, json_body: bytes, keep_alive: bool, extra_headers: tuple = ()) -> bytes:
    """An answer the server makes itself (a refused request, a failed app): JSON, no app involved."""
    lines = [
        f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, '')}\r\n",
        "Content-Type: application/json\r\n",
        f"Content-Length: {len(json_body)}\r\n",
        f"Date: {http_date()}\r\n",
        *(f"{name}: {value}\r\n" for name, value in extra_headers),
        "" if keep_alive else "Connection: close\r\n",
        "\r\n",
    ]
    return "".join(lines).encode("latin-1") + json_body


_date = (0, "")


def http_date() -> str:
    """The Date header's value, formatted once a second."""
    global _date
    second = int(time.time())
    if _date[0] != second:
        _date = (second, formatdate(second, usegmt=True))
    return _date[1]
