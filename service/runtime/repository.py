"""The model repository: model folders → served models, each ready or failed with its reason."""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..errors import DefinitionError, ModelNotReady, UnknownModel, UnknownVersion
from ..stack import load_stack
from ..stack.limits import DEFAULT_MAX_PARAMETERS
from .inference import check_example
from .metrics import NO_METRICS, Metrics
from .served import ServedModel

log = logging.getLogger(__name__)


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
        max_parameters: int = DEFAULT_MAX_PARAMETERS,
        metrics: Metrics = NO_METRICS,
        health_dir: Path | None = None,
    ):
        self.root = Path(root)
        self.health_dir = health_dir  # seen by every worker: where activation-health counters live
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.health_sample_every = health_sample_every
        self.max_parameters = max_parameters
        self._entries: dict[str, ModelEntry] = {}

    def load_all(self) -> None:
        """Load every model folder; a broken one is kept, with its reason, and never stops the rest."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"models directory {str(self.root)!r} does not exist")
        for name in self.folder_names():
            try:
                self._entries[name] = ModelEntry(name, self._build(name))
            except DefinitionError as exc:
                self._entries[name] = ModelEntry(name, error=exc.message)

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
        try:
            definition, stack = load_stack(self.root / name, self.max_parameters)
        except DefinitionError as exc:
            log.warning("model %s failed to load: %s", name, exc.message)
            raise
        except Exception:  # a model must never take the others down; the log has the detail
            log.exception("model %s failed to load with an unexpected error", name)
            raise DefinitionError("unexpected error while loading; see the server log") from None
        model = ServedModel(
            definition,
            stack,
            self.max_batch_size,
            self.health_sample_every,
            self.metrics.for_model(name, batched=definition.dynamic_batching is not None),
            self._health_counters(name, definition.version),
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
            raise ModelNotReady(name, entry.error)
        if version is not None and version != entry.model.version:
            raise UnknownVersion(name, version, entry.versions)
        if not entry.ready:
            raise ModelNotReady(name, "warming up")
        return entry.model


def _warm(name: str, model: ServedModel) -> None:
    try:
        model.warm_up()
    except Exception:
        log.exception("model %s failed its warm-up forward pass", name)
        raise DefinitionError("the warm-up forward pass failed; see the server log") from None
