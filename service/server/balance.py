"""How many connections each worker holds, so that keep-alive clients spread evenly.

Every worker waits on the same listening socket and whichever wakes first accepts. Keep-alive
clients (a proxy's pool, a load generator) connect once and send every request on those
connections, so an early lead sticks. Each worker counts its open connections here; one that
holds more than a sibling pauses before it accepts.
"""

import mmap

MAX_WORKERS = 256


class ConnectionTable:
    """Open connections per worker slot, in anonymous shared memory made by the master.

    The master hands out and frees slots (before a fork, after a worker exits); a worker writes
    only its own slot: its count, and whether it is accepting connections (not while it starts
    up or shuts down, when leaving connections to it would only delay them).
    """

    _STATE, _CONNECTIONS = 0, 1  # two int64 per slot
    _FREE, _CLAIMED, _ACCEPTING = 0, 1, 2

    def __init__(self, slots: int = MAX_WORKERS):
        self._memory = mmap.mmap(-1, slots * 2 * 8)  # MAP_SHARED: children see each other's writes
        self._cells = memoryview(self._memory).cast("q")
        self._free = list(range(slots - 1, -1, -1))

    def claim(self) -> int:
        """In the master: a slot for the worker about to be forked."""
        if not self._free:
            raise RuntimeError(f"more than {len(self._cells) // 2} workers")
        slot = self._free.pop()
        self._cells[2 * slot + self._CONNECTIONS] = 0
        self._cells[2 * slot + self._STATE] = self._CLAIMED
        return slot

    def release(self, slot: int) -> None:
        """In the master, once the slot's worker has exited."""
        self._cells[2 * slot + self._STATE] = self._FREE
        self._cells[2 * slot + self._CONNECTIONS] = 0
        self._free.append(slot)

    def set_accepting(self, slot: int, accepting: bool) -> None:
        self._cells[2 * slot + self._STATE] = self._ACCEPTING if accepting else self._CLAIMED

    def set_connections(self, slot: int, count: int) -> None:
        self._cells[2 * slot + self._CONNECTIONS] = count

    def connections(self, slot: int) -> int:
        return self._cells[2 * slot + self._CONNECTIONS]

    def fewest_elsewhere(self, slot: int) -> int | None:
        """The smallest connection count among the other accepting workers (None: there are none)."""
        cells = self._cells.tolist()
        counts = [cells[i + 1] for i in range(0, len(cells), 2) if cells[i] == self._ACCEPTING and i != 2 * slot]
        return min(counts, default=None)
