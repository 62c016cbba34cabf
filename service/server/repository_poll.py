"""Poll mode: the server watches its models folder and reloads what changed, as Triton's
--model-control-mode=poll does.

With LAYERSERVE_REPOSITORY_POLL_S above 0, one gunicorn worker (`layerserve serve`) scans the
folder that often. A model folder
whose files changed (names, sizes, modification times, inodes: a file replaced by a rename
counts too) is loaded again once two scans in a row
see it the same, so a folder still being written is left alone; a new folder is loaded and one
that disappeared is unloaded. Each change goes through the hot reload (reload.py): every worker
swaps at once, and a definition that fails to load keeps the old version serving (tried again
when the folder changes again). One worker polls: the one holding a record lock on a file made
before the fork; the kernel drops the lock when that worker dies, and another takes over.
"""

import logging
import os
import threading
import time
from pathlib import Path

from ..errors import ServiceError
from ..sharing.shared_lock import ProcessSharedLock
from .reload import WorkerSync

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int, int], ...]


def fingerprint(folder: Path) -> Fingerprint | None:
    """Every file of a model folder with its size, modification time and inode; None if it is gone."""
    try:
        return tuple(
            sorted(
                (str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns, stat.st_ino)
                for path in folder.rglob("*")
                if path.is_file() and (stat := path.stat())
            )
        )
    except OSError:  # removed while we looked: the next scan sees the outcome
        return None


class RepositoryPoller:
    def __init__(self, sync: WorkerSync, interval_s: float):
        """In the master before the fork (or in the one process): the folder as the models were loaded."""
        self.sync = sync
        self.interval_s = interval_s
        self._turn = ProcessSharedLock()  # made before the fork: every worker shares it
        self._applied = self.scan()  # what the served models were loaded from
        self._previous = self._applied

    def scan(self) -> dict[str, Fingerprint]:
        root = self.sync.repository.root
        found = {name: fingerprint(root / name) for name in self.sync.repository.folder_names()}
        return {name: files for name, files in found.items() if files is not None}

    def start(self) -> None:
        """In a worker whose models are warmed up: poll from a thread, once it is this worker's turn."""
        threading.Thread(target=self._run, name="layerserve-poll", daemon=True).start()

    def _run(self) -> None:
        with self._turn.held():  # waits while another worker of this server polls; held until exit
            log.info("worker %s polls the models folder every %g s", os.getpid(), self.interval_s)
            while True:
                time.sleep(self.interval_s)
                try:
                    self.poll_once()
                except Exception:  # the poller must outlive any one failure
                    log.exception("polling the models folder failed")

    def poll_once(self) -> list[str]:
        """One scan: apply each change that has settled; returns the names of the models changed."""
        now = self.scan()
        changed = {name for name in now.keys() | self._applied.keys() if now.get(name) != self._applied.get(name)}
        settled = sorted(name for name in changed if now.get(name) == self._previous.get(name))
        self._previous = now
        for name in settled:
            self._apply(name, now.get(name))
        return settled

    def _apply(self, name: str, files: Fingerprint | None) -> None:
        self._applied[name] = files  # a failure is not retried until the folder changes again
        if files is None:
            self._applied.pop(name)
        action = "load" if files is not None else "unload"
        try:
            self.sync.load(name) if files is not None else self.sync.unload(name)
        except ServiceError as error:
            log.warning("model %s changed on disk; %s failed: %s", name, action, error.message)
        else:
            log.info("model %s changed on disk: %s done in every worker", name, action)
