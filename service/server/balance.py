"""How many connections each worker holds, so that keep-alive clients spread evenly.

Every worker waits on the same listening socket and whichever wakes first accepts. Keep-alive
clients (a proxy's pool, a load generator) connect once and send every request on those
connections, so an early lead sticks. Each worker counts its open connections here; one that
holds more than a sibling pauses before it accepts.
"""

from ..sharing.shared_memory import MAX_WORKERS, SharedRecords


class ConnectionTable:
    """Open connections per worker slot, in anonymous shared memory made by the master.

    The master hands out and frees slots (before a fork, after a worker exits); a worker writes
    only its own slot: its count, and whether it is accepting connections (not while it starts
    up or shuts down, when leaving connections to it would only delay them).
    """

    _FREE, _CLAIMED, _ACCEPTING = 0, 1, 2

    def __init__(self, slots: int = MAX_WORKERS):
        self._slots = SharedRecords(("state", "connections"), slots)
        self._free = list(range(slots - 1, -1, -1))

    def claim(self) -> int:
        """In the master: a slot for the worker about to be forked."""
        if not self._free:
            raise RuntimeError(f"more than {len(self._slots)} workers")
        slot = self._free.pop()
        self._slots.set(slot, connections=0, state=self._CLAIMED)
        return slot

    def release(self, slot: int) -> None:
        """In the master, once the slot's worker has exited."""
        self._slots.set(slot, state=self._FREE, connections=0)
        self._free.append(slot)

    def set_accepting(self, slot: int, accepting: bool) -> None:
        self._slots.set(slot, state=self._ACCEPTING if accepting else self._CLAIMED)

    def set_connections(self, slot: int, count: int) -> None:
        self._slots.set(slot, connections=count)

    def connections(self, slot: int) -> int:
        return self._slots.get(slot, "connections")

    def fewest_elsewhere(self, slot: int) -> int | None:
        """The smallest connection count among the other accepting workers (None: there are none)."""
        states, counts = self._slots.column("state"), self._slots.column("connections")
        return min(
            [counts[other] for other, state in enumerate(states) if state == self._ACCEPTING and other != slot],
            default=None,
        )
