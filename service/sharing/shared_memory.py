"""Records of named integer fields in memory shared by the gunicorn master and the workers it forks.

The master makes them before the fork: an anonymous MAP_SHARED mapping is inherited by every
child, and a write by any of them is seen by all. Callers name a record and a field; only this
module knows where in the mapping that is.
"""

import mmap
from collections.abc import Sequence

MAX_WORKERS = 256  # worker slots in each table the master shares with its workers


def anonymous_shared_memory(size: int) -> mmap.mmap:
    """`size` zero bytes shared with the processes forked after this call (MAP_SHARED | MAP_ANONYMOUS)."""
    return mmap.mmap(-1, size)


class SharedRecords:
    """`count` records of the same int64 fields, all zero to start.

    A single field is read or written whole; a record is not: a reader in another process may
    see some of `set`'s fields before the others, so `set` writes them in the order given.
    """

    def __init__(self, fields: Sequence[str], count: int):
        if not fields or count < 1:
            raise ValueError(f"records need fields and a count of at least 1, got {list(fields)} and {count}")
        self.fields = tuple(fields)
        self._width = len(self.fields)
        self._index = {field: position for position, field in enumerate(self.fields)}
        self._count = count
        self._cells = memoryview(anonymous_shared_memory(count * self._width * 8)).cast("q")

    def __len__(self) -> int:
        return self._count

    def get(self, record: int, field: str) -> int:
        return self._cells[self._start(record) + self._position(field)]

    def set(self, record: int, **values: int) -> None:
        start = self._start(record)
        for field, value in values.items():
            self._cells[start + self._position(field)] = value

    def record(self, record: int) -> tuple[int, ...]:
        start = self._start(record)
        return tuple(self._cells[start : start + self._width])

    def column(self, field: str) -> list[int]:
        """One field of every record, in record order: one copy, however many records."""
        return self._cells[self._position(field) :: self._width].tolist()

    def records(self) -> list[tuple[int, ...]]:
        """Every record, each a tuple of its fields in order."""
        return list(zip(*(self.column(field) for field in self.fields), strict=True))

    def _start(self, record: int) -> int:
        # checked here: a negative index would silently reach another record
        if not 0 <= record < self._count:
            raise IndexError(f"record {record} out of range: there are {self._count}")
        return record * self._width

    def _position(self, field: str) -> int:
        try:
            return self._index[field]
        except KeyError:
            raise KeyError(f"no field {field!r}; the fields are {', '.join(self.fields)}") from None
