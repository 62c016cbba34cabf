"""One JSON line per request on stdout: request id, route, model, status, batch size, latency.

Written with one os.write per line (atomic for lines under PIPE_BUF, so workers and threads do
not interleave) instead of through the logging module, which costs more than a small model's
forward pass.
"""

import os
import time

import orjson

from ..errors import CLIP_CHARS, MAX_MESSAGE_CHARS, cut
from ..sharing.pid import current_pid

# Each field's share of a line that stays under PIPE_BUF (4096 bytes), whatever the client sent.
_FIELD_CHARS = {"path": 1000, "model": CLIP_CHARS, "version": CLIP_CHARS, "error": MAX_MESSAGE_CHARS}


class RequestLog:
    def __init__(self, enabled: bool, fd: int = 1):
        self.enabled = enabled
        self.fd = fd

    def write(self, request_id: str, method: str, path: str, status: int, started: float, **details) -> None:
        if not self.enabled:
            return
        record = {
            "ts": round(time.time(), 6),
            "event": "request",
            "pid": current_pid(),
            "request_id": request_id,
            "method": method,
            "path": cut(path, _FIELD_CHARS["path"]),
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1e3, 3),
            **{key: _bounded(key, value) for key, value in details.items() if value is not None},
        }
        os.write(self.fd, orjson.dumps(record) + b"\n")


def _bounded(key: str, value):
    return cut(value, _FIELD_CHARS.get(key, CLIP_CHARS)) if isinstance(value, str) else value
