"""Which requests the event loop runs itself, without handing them to a request thread.

Handing a request to a thread and its answer back costs two thread wake-ups and a pipe write,
more than a small model's whole request (tiny model, one connection: 3,070 req/s through a
thread, 5,190 run in the loop). But while the loop runs a request it reads and accepts nothing
else, so it runs only what is known to be quick: a request whose kind (method, target, and body size to a power of two) took
less than `budget_s` of late, and only when a running slot is free at once. A kind seen for
the first time, or once slow, goes to a thread and is timed there; a slow answer moves its kind
to the threads at once, quick ones bring it back gradually.
"""

BUDGET_S = 0.002
KINDS = 1024  # kinds remembered; past it, new kinds always go to a thread
SLOW = 10  # one answer this many budgets long sends its kind to the threads at once


class InlinePolicy:
    def __init__(self, budget_s: float = BUDGET_S, kinds: int = KINDS):
        self.budget_s = budget_s
        self.kinds = kinds
        self._seconds: dict[tuple, float] = {}  # a moving average per kind

    def quick(self, kind: tuple) -> bool:
        seconds = self._seconds.get(kind)
        return seconds is not None and seconds < self.budget_s

    def record(self, kind: tuple, seconds: float) -> None:
        previous = self._seconds.get(kind)
        if previous is None:
            if len(self._seconds) < self.kinds:
                self._seconds[kind] = seconds
        elif seconds > SLOW * self.budget_s:
            self._seconds[kind] = seconds
        else:
            self._seconds[kind] = 0.8 * previous + 0.2 * seconds
