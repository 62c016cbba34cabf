"""Hot reload across gunicorn's workers: each converges on what the last load or unload asked for.

Before the fork, the master maps small shared regions: a generation counter, the desired state
of every model loaded or unloaded since start (JSON), and a slot per worker holding its pid and
the generation it has applied. A load runs first in the worker that received it; one that fails
there changes nothing anywhere and returns its reason. Otherwise it is published: each other
worker's watcher thread sees the new generation within a poll interval, applies it from disk,
and acknowledges. The request returns once every live worker has. A worker started later, as a
replacement for one that died, applies the published state before it serves.
"""

import logging
import os
import threading
import time

import orjson

from ..errors import DefinitionError, ServiceError
from ..runtime.repository import ModelRepository
from ..sharing import request_slots
from ..sharing.shared_lock import ProcessSharedLock
from ..sharing.shared_memory import MAX_WORKERS, SharedRecords, anonymous_shared_memory

log = logging.getLogger(__name__)

STATE_BYTES = 256 * 1024  # the desired-state document: room for thousands of model names
POLL_S = 0.02


class ReloadNotConfirmed(ServiceError):
    status = 503


class SharedModelState:
    """The region every worker reads: made in the master, inherited by each forked worker."""

    def __init__(self):
        self._header = SharedRecords(("generation", "length"), 1)  # length: of the state document
        self._document = anonymous_shared_memory(STATE_BYTES)
        # per worker: pid (0: free), generation applied, last generation that failed there
        self._workers = SharedRecords(("pid", "applied", "failed"), MAX_WORKERS)
        self._lock = ProcessSharedLock()

    @property
    def generation(self) -> int:
        return self._header.get(0, "generation")

    def desired(self) -> tuple[int, dict]:
        with self._lock.held():
            return self._read()

    def publish(self, name: str, action: str) -> int:
        with self._lock.held():
            generation, state = self._read()
            generation += 1
            state[name] = {"action": action, "generation": generation}
            document = orjson.dumps(state)
            if len(document) > STATE_BYTES:
                raise ServiceError("too many models changed since start to publish another; restart the server")
            self._document[: len(document)] = document
            # the generation last: watchers read it without the lock, then take the lock to read the rest
            self._header.set(0, length=len(document), generation=generation)
        return generation

    def _read(self) -> tuple[int, dict]:
        """The generation and the desired state; the caller holds the lock."""
        generation, length = self._header.record(0)
        document = self._document[:length]
        return generation, orjson.loads(document) if length else {}

    def register(self, pid: int) -> int:
        """A slot for this worker: a free one, or one whose process is gone."""
        with self._lock.held():
            for slot, holder in enumerate(self._workers.column("pid")):
                if holder == 0 or not _alive(holder):
                    # the pid last: lagging() and failed() read without the lock, and must not
                    # count this worker with what the slot's last holder had applied
                    self._workers.set(slot, applied=0, failed=0, pid=pid)
                    return slot
        raise RuntimeError(f"more than {MAX_WORKERS} workers share one model state")

    def release(self, pid: int) -> None:
        with self._lock.held():
            for slot, holder in enumerate(self._workers.column("pid")):
                if holder == pid:
                    self._workers.set(slot, pid=0, applied=0, failed=0)

    def acknowledge(self, slot: int, pid: int, generation: int, failed: int = 0) -> None:
        """This worker has applied every change up to `generation`; `failed`: the last one it could not."""
        self._workers.set(slot, pid=pid, applied=generation, failed=failed)

    def lagging(self, generation: int) -> list[int]:
        """Pids of live workers that have not applied `generation` yet."""
        workers = self._workers.records()
        return [pid for pid, applied, _ in workers if pid and applied < generation and _alive(pid)]

    def failed(self, generation: int) -> list[int]:
        """Pids of live workers where applying `generation` failed (they keep what they served)."""
        workers = self._workers.records()
        return [pid for pid, _, failed in workers if pid and failed == generation and _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerSync:
    """One worker's side: applies what others publish, and publishes what it is asked to do."""

    def __init__(self, repository: ModelRepository, shared: SharedModelState, confirm_timeout_s: float):
        self.repository = repository
        self.shared = shared
        self.confirm_timeout_s = confirm_timeout_s
        self._applied: dict[str, int] = {}
        self._lock = threading.Lock()  # one load or unload at a time in this worker
        self._slot: int | None = None
        self._pid = 0

    def start(self, watch: bool) -> None:
        """In a worker, after the fork: catch up, then follow (with a watcher thread) from the
        generation caught up with, so a change published meanwhile is not missed."""
        self._pid = os.getpid()
        self._slot = self.shared.register(self._pid)
        seen = self.apply_published()
        if watch:
            threading.Thread(target=self._watch, args=(seen,), name="layerserve-reload", daemon=True).start()

    def load(self, name: str) -> None:
        self._change(name, "load")

    def unload(self, name: str) -> None:
        self._change(name, "unload")

    def _change(self, name: str, action: str) -> None:
        # Mostly waiting, for the lock and then for the other workers; the load itself is rare
        # administrative work, let run beside the requests.
        with request_slots.slots.released():
            self._change_and_confirm(name, action)

    def _change_and_confirm(self, name: str, action: str) -> None:
        with self._lock:
            self._apply(name, action)  # raises, publishing nothing, if the model does not load here
            generation = self.shared.publish(name, action)
            self._applied[name] = generation
        self.apply_published()
        deadline = time.monotonic() + self.confirm_timeout_s
        while lagging := self.shared.lagging(generation):
            if time.monotonic() > deadline:
                raise ReloadNotConfirmed(
                    f"model {name!r}: {action} done in this worker, but workers {lagging} did not confirm it "
                    f"within {self.confirm_timeout_s:g} s; they apply it when they can"
                )
            time.sleep(POLL_S)
        if failed := self.shared.failed(generation):
            raise ReloadNotConfirmed(
                f"model {name!r}: {action} done in this worker, but it failed in workers {failed}, which keep "
                "serving what they had; see the server log"
            )

    def _apply(self, name: str, action: str) -> None:
        if action == "load":
            self.repository.load(name)
        else:
            self.repository.unload(name)

    def apply_published(self) -> int:
        """Apply what others published since this worker last looked; returns the generation applied."""
        generation, desired = self.shared.desired()
        with self._lock:
            failed = 0
            for name, wanted in sorted(desired.items(), key=lambda item: item[1]["generation"]):
                if wanted["generation"] > self._applied.get(name, 0):
                    try:
                        self._apply(name, wanted["action"])
                    except (DefinitionError, ServiceError) as error:  # keeps what it served; the log says why
                        log.warning("model %s: %s failed in worker %s: %s", name, wanted["action"], self._pid, error)
                        failed = wanted["generation"]
                    self._applied[name] = wanted["generation"]
            if self._slot is not None:
                self.shared.acknowledge(self._slot, self._pid, generation, failed)
        return generation

    def _watch(self, seen: int) -> None:
        while True:
            time.sleep(POLL_S)
            if self.shared.generation != seen:
                try:
                    seen = self.apply_published()
                except Exception:  # the watcher must outlive any one failure
                    log.exception("worker %s failed to apply the published model state", self._pid)
