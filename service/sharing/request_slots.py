"""How many of a worker's request threads may run at once; the others wait their turn in order.

A worker has many request threads so that slow clients and requests waiting to be batched do
not hold up the rest. But only one thread runs Python at a time: when eight threads all have
work, they take turns at the interpreter lock in no particular order and an unlucky request
waits through many turns (measured: p99 21 ms at a median of 6 ms, tiny model, 16
connections; 8 ms with one running at a time, at the same throughput). RequestSlots lets a
few threads run (LAYERSERVE_ACTIVE_REQUESTS) and queues the rest first come, first served.
A thread gives its slot back while it waits for something other than the CPU: more of its
request from the client, its turn in a dynamic batch, other workers confirming a reload.
"""

import contextlib
import threading
from collections import deque


class RequestSlots:
    def __init__(self, slots: int):
        self._free = slots
        self._lock = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._holder = threading.local()

    def acquire(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                self._holder.held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by the thread that hands its slot over
        self._holder.held = True

    def try_acquire(self) -> bool:
        """A slot now, or False without waiting (nobody waits for one and one is free)."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                self._holder.held = True
                return True
        return False

    def release(self) -> None:
        """Give the slot back if this thread holds one."""
        if not getattr(self._holder, "held", False):
            return
        self._holder.held = False
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # straight to the longest waiting thread
            else:
                self._free += 1

    @contextlib.contextmanager
    def released(self):
        """Around a wait for something other than the CPU: the slot goes to another thread meanwhile."""
        held = getattr(self._holder, "held", False)
        if held:
            self.release()
        try:
            yield
        finally:
            if held:
                self.acquire()


class _Unlimited(RequestSlots):
    """Outside the serving worker (tests, scripts): every thread runs."""

    def __init__(self):
        pass

    def acquire(self) -> None:
        pass

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass

    @contextlib.contextmanager
    def released(self):
        yield


slots: RequestSlots = _Unlimited()


def limit(count: int) -> None:
    """In a worker, before it serves: at most `count` request threads run at once."""
    global slots
    slots = RequestSlots(count)
