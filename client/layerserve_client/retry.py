"""When the client sends an inference again, and how long it waits first."""

from __future__ import annotations

from dataclasses import dataclass

import requests

# 503: the server or model is not ready yet (starting, warming up, a worker being replaced).
RETRY_STATUSES = frozenset({503})


@dataclass(frozen=True)
class Backoff:
    """backoff·2ⁿ seconds before retry n (0 for the first), at most backoff_max."""

    backoff: float = 0.1
    backoff_max: float = 2.0

    def __post_init__(self):
        if self.backoff < 0 or self.backoff_max < 0:
            raise ValueError(f"backoff and backoff_max must not be negative: {self}")

    def delay(self, retry: int, response: requests.Response | None = None) -> float:
        """Seconds to wait before retry number `retry`; a longer Retry-After wins, capped too."""
        wait = self.backoff * 2**retry
        retry_after = _retry_after_seconds(response)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.backoff_max)


def _retry_after_seconds(response: requests.Response | None) -> float | None:
    # Only the delay-seconds form; an HTTP date is rare from a server and not worth parsing.
    value = None if response is None else response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
