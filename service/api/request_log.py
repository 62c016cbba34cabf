"""One JSON line per request on stdout: request id, route, model, status, batch size, latency.

Written with one os.write per line (atomic for lines under PIPE_BUF, so workers and threads do
not interleave) instead of through the logging module, which costs more than a small model's
forward pass.
"""

import os
import time

import orjson

from ..sharing.pid import current_pid


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
            "path": path,
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1e3, 3),
            **{key: value for key, value in details.items() if value is not None},
        }
        os.write(self.fd, orjson.dumps(record) + b"\n")
