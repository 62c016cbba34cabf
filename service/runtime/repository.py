"""The model repository: model folders → served models, each ready or failed with its reason."""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..errors import (
    DefinitionError,
    LoadTimeout,
    ModelNotReady,
    ModelUnavailable,
    UnknownModel,
    UnknownVersion,
    allocation_failure,
)
from ..stack import load_stack
from ..stack.deadline import LoadDeadline
from ..stack.limits import DEFAULT_LIMITS, DEFAULT_LOAD_TIMEOUT, ModelLimits
from .inference import check_example
from .metrics import NO_METRICS, Metrics
from .served import ServedModel

log = logging.getLogger(__name__)

# Folders loading side by side at start: enough that slow ones do not queue the rest behind them,
# few enough that a models directory of thousands does not start thousands of threads.
LOADS_AT_ONCE = 32


@dataclass
class ModelEntry:
    name: str
    model: ServedModel | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.model is not None and self.model.warmed_up

    @property
    def state(self) -> str:
        if self.model is None:
            return "UNAVAILABLE"
        return "READY" if self.ready else "LOADING"

    @property
    def versions(self) -> list[str]:
        return [self.model.version] if self.model else []

    def listing(self) -> dict:
        return {
            "name": self.name,
            "versions": self.versions,
            "platform": "layerserve",
            "state": self.state,
            "ready": self.ready,
            "reason": self.error,
        }


class ModelRepository:
    def __init__(
        self,
        root: Path,
        *,
        max_batch_size: int,
        health_sample_every: int = 0,
        limits: ModelLimits = DEFAULT_LIMITS,
        load_timeout: float = DEFAULT_LOAD_TIMEOUT,
        metrics: Metrics = NO_METRICS,
        health_dir: Path | None = None,
    ):
        self.root = Path(root)
        self.health_dir = health_dir  # seen by every worker: where activation-health counters live
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.health_sample_every = health_sample_every
        self.limits = limits
        self.load_timeout = load_timeout
        self._entries: dict[str, ModelEntry] = {}

    def load_all(self) -> None:
        """Load every model folder; a broken one is kept, with its reason, and never stops the rest.
        Folders load side by side (a few dozen at a time), so one that takes its whole time limit
        does not delay the others by it."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"models directory {str(self.root)!r} does not exist")
        names = self.folder_names()
        for start in range(0, len(names), LOADS_AT_ONCE):
            pending = [
                PendingLoad(name, self._load, self.load_timeout) for name in names[start : start + LOADS_AT_ONCE]
            ]
            for load in pending:
                try:
                    self._entries[load.name] = ModelEntry(load.name, load.result())
                except DefinitionError as exc:
                    self._entries[load.name] = ModelEntry(load.name, error=exc.message)

    def folder_names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

    def load(self, name: str) -> ServedModel:
        """(Re)load one model from its folder, warm it up and swap it in at once: requests already
        running finish on the model they started with. A load that fails leaves the served model as it was."""
        model = self._build(self._folder_name(name))
        _warm(name, model)
        self._entries[name] = ModelEntry(name, model)
        return model

    def unload(self, name: str) -> None:
        self.entry(name)
        self._entries[name] = ModelEntry(name, error="unloaded")
        log.info("model %s unloaded", name)

    def index(self) -> list[ModelEntry]:
        """Every model folder on disk and every model known, loaded or not."""
        return [self._entries.get(name) or ModelEntry(name, error="not loaded") for name in self._all_names()]

    def _all_names(self) -> list[str]:
        return sorted(set(self.folder_names()) | set(self._entries))

    def _folder_name(self, name: str) -> str:
        """`name` as a folder directly under the models directory, or the error that says why not."""
        if name not in self.folder_names():
            raise UnknownModel(name, self.folder_names())
        return name

    def _build(self, name: str) -> ServedModel:
        """The model, or the error that says why not, within the load's time limit."""
        return PendingLoad(name, self._load, self.load_timeout).result()

    def _load(self, name: str, deadline: LoadDeadline) -> ServedModel:
        try:
            definition, stack = load_stack(self.root / name, self.limits, deadline)
        except DefinitionError as exc:
            log.warning("model %s failed to load: %s", name, exc.message)
            raise
        except Exception as error:  # a model must never take the others down; the log has the detail
            if short_of_memory := allocation_failure(error):
                log.warning("model %s failed to load: %s", name, short_of_memory.message)
                raise DefinitionError(short_of_memory.message) from None
            log.exception("model %s failed to load with an unexpected error", name)
            raise DefinitionError("unexpected error while loading; see the server log") from None
        model = ServedModel(
            definition,
            stack,
            self.max_batch_size,
            self.health_sample_every,
            self.metrics.for_model(name, batched=definition.dynamic_batching is not None),
            self._health_counters(name, definition.version),
            self.limits,
        )
        try:
            check_example(model)
        except DefinitionError as exc:
            log.warning("model %s failed to load: %s", name, exc.message)
            raise
        log.info("model %s version %s loaded", name, definition.version)
        return model

    def _health_counters(self, name: str, version) -> Path | None:
        """The counters file of the model as it is on disk now: every worker that loads the same
        files (the master before the fork, or each worker in a hot reload) gets the same file,
        and loading unchanged files again keeps counting where it was."""
        if self.health_dir is None:
            return None
        folder = self.root / name
        try:
            files = sorted(
                (str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns)
                for path in folder.rglob("*")
                if path.is_file()
            )
        except OSError as exc:  # a file removed while we looked: this worker counts on its own
            log.warning("model %s: no shared activation health counters: %s", name, exc)
            return None
        digest = hashlib.sha256(orjson.dumps([name, str(version), files])).hexdigest()[:32]
        return self.health_dir / f"health-{digest}.bin"

    def warm_up(self) -> None:
        """Runs in each worker. A model whose warm-up fails is served by none: it is reported
        as not ready, and the others warm up and serve. Models a hot reload already warmed up
        are left as they are."""
        for entry in self.entries():
            if entry.model is None or entry.model.warmed_up:
                continue
            try:
                _warm(entry.name, entry.model)
            except DefinitionError as error:
                entry.model, entry.error = None, error.message

    @property
    def ready(self) -> bool:
        return all(entry.ready for entry in self.entries() if entry.model is not None)

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def entry(self, name: str) -> ModelEntry:
        if name not in self._entries:
            raise UnknownModel(name, list(self._entries))
        return self._entries[name]

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model to serve, or the error a client should see."""
        entry = self.entry(name)
        if entry.model is None:
            raise ModelUnavailable(name, entry.error)
        if version is not None and version != entry.model.version:
            raise UnknownVersion(name, version, entry.versions)
        if not entry.ready:
            raise ModelNotReady(name, "warming up")
        return entry.model


class PendingLoad:
    """A model folder loading in a thread of its own, under its time limit."""

    def __init__(self, name: str, load, timeout: float):
        self.name = name
        self.deadline = LoadDeadline.after(timeout)
        self._outcome: list = []
        self._thread = threading.Thread(
            target=lambda: self._outcome.append(_outcome(load, name, self.deadline)), name=f"load-{name}", daemon=True
        )
        self._thread.start()

    def result(self) -> ServedModel:
        """The model, or the error that says why not; waits no longer than the deadline. A thread
        cannot be stopped from outside: past it the load is left behind, and stops itself at its
        next step (the deadline is checked between layers)."""
        self._thread.join(max(0.0, self.deadline.at - time.monotonic()))
        if not self._outcome:
            seconds = self.deadline.seconds
            log.error("model %s: loading abandoned after %g s (LAYERSERVE_LOAD_TIMEOUT)", self.name, seconds)
            raise LoadTimeout(seconds, "while it was still running")
        model, error = self._outcome[0]
        if error is not None:
            raise error
        return model


def _outcome(function, *args) -> tuple:
    """(result, None) or (None, the exception): how a thread hands either back."""
    try:
        return function(*args), None
    except Exception as error:  # noqa: BLE001 (handed to the caller, which raises it)
        return None, error


def _warm(name: str, model: ServedModel) -> None:
    try:
        model.warm_up()
    except Exception:
        log.exception("model %s failed its warm-up forward pass", name)
        raise DefinitionError("the warm-up forward pass failed; see the server log") from None
