"""A lock shared by forked processes (gunicorn's workers) and their threads."""

import contextlib
import fcntl
import tempfile
import threading
import weakref


class ProcessSharedLock:
    """Mutual exclusion across forked processes and their threads, released if its holder dies.

    A POSIX record lock (lockf) belongs to the process: the kernel drops it when the process
    exits, even by SIGKILL, so a killed worker never leaves the others waiting. Record locks do
    not exclude threads of one process, so a thread lock comes first.
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
            fcntl.lockf(self._file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self._file, fcntl.LOCK_UN)
