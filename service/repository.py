"""The model repository: model folders → served models, each ready or failed with its reason."""

import logging
from dataclasses import dataclass
from pathlib import Path

from .errors import DefinitionError, ModelNotReady, UnknownModel, UnknownVersion
from .metrics import NO_METRICS, Metrics
from .served import ServedModel
from .stack import load_stack

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
        max_batch_size: int,
        health_sample_every: int = 0,
        max_parameters: int = 500_000_000,
        metrics: Metrics = NO_METRICS,
    ):
        self.root = Path(root)
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.health_sample_every = health_sample_every
        self.max_parameters = max_parameters
        self._entries: dict[str, ModelEntry] = {}

    def load_all(self) -> None:
        """Load every model folder; a broken one is kept, with its reason, and never stops the rest."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"models directory {str(self.root)!r} does not exist")
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            self._entries[folder.name] = self._load(folder)

    def _load(self, folder: Path) -> ModelEntry:
        try:
            definition, stack = load_stack(folder, self.max_parameters)
        except DefinitionError as exc:
            log.warning("model %s failed to load: %s", folder.name, exc.message)
            return ModelEntry(folder.name, error=exc.message)
        except Exception:  # a model must never take the others down; the log has the detail
            log.exception("model %s failed to load with an unexpected error", folder.name)
            return ModelEntry(folder.name, error="unexpected error while loading; see the server log")
        log.info("model %s version %s loaded", folder.name, definition.version)
        model = ServedModel(
            definition,
            stack,
            self.max_batch_size,
            self.health_sample_every,
            self.metrics.for_model(folder.name, batched=definition.dynamic_batching is not None),
        )
        return ModelEntry(folder.name, model)

    def warm_up(self) -> None:
        """Runs in each worker. A model whose warm-up fails is served by none: it is reported
        as not ready, and the others warm up and serve."""
        for entry in self._entries.values():
            if entry.model is None:
                continue
            try:
                entry.model.warm_up()
            except Exception:
                log.exception("model %s failed its warm-up forward pass", entry.name)
                entry.model, entry.error = None, "the warm-up forward pass failed; see the server log"

    @property
    def ready(self) -> bool:
        return all(entry.ready for entry in self._entries.values() if entry.model is not None)

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
