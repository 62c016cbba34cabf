"""A lock shared by forked processes (gunicorn's workers) and their threads."""

import contextlib
import errno
import fcntl
import tempfile
import threading
import time
import weakref

DEADLOCK_RETRY_S = 0.001


class ProcessSharedLock:
    """Mutual exclusion across forked processes and their threads, released if its holder dies.

    A POSIX record lock (lockf) belongs to the process: the kernel drops it when the process
    exits, even by SIGKILL, so a killed worker never leaves the others waiting. Record locks do
    not exclude threads of one process, so a thread lock comes first.

    Because record locks belong to processes, the kernel's deadlock check sees a cycle where
    threads make none: a worker's request thread holds one lock while its reload thread waits
    for another held by a second worker, which now asks for the first. The kernel refuses that
    wait (EDEADLK), though the first lock is given back as soon as its request ends; the lock is
    asked for again until it is free. (No code path holds one of these locks while it takes
    another in the same thread, so no real cycle exists.)
    """

    def __init__(self, file=None):
        """On `file` (an open file every process holding the lock maps), or on a file of its own."""
        if file is None:
            file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the finalizer; survives fork
            weakref.finalize(self, file.close)
        self._file = file
        self._threads = threading.Lock()

    @contextlib.contextmanager
    def held(self):
        with self._threads:
            self._lock_file()
            try:
                yield
            finally:
                fcntl.lockf(self._file, fcntl.LOCK_UN)

    def _lock_file(self) -> None:
        while True:
            try:
                fcntl.lockf(self._file, fcntl.LOCK_EX)
                return
            except OSError as error:
                if error.errno != errno.EDEADLK:
                    raise
            time.sleep(DEADLOCK_RETRY_S)
