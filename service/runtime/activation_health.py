"""Activation health over served traffic, shared by every worker process.

Each worker adds to the same counters, so any worker can answer GET .../health for all of
them. Under gunicorn the counters are a file in a directory every worker sees, named after
the model's files: a worker that loads the model itself (a hot reload) finds the same file as
its siblings. Without such a directory they are an anonymous shared mapping, inherited by the
processes forked after it is made. Only every Nth forward pass is observed
(LAYERSERVE_HEALTH_SAMPLE_EVERY): counting costs a few tensor ops.
"""

import contextlib
import itertools
import logging
import mmap
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..sharing.shared_lock import ProcessSharedLock
from ..sharing.shared_memory import anonymous_shared_memory
from ..stack import LayerStack
from ..stack.health_rules import HealthRule, summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchedLayer:
    name: str
    type: str
    rule: HealthRule
    neurons: int
    offset: int  # into the shared counters


class HealthMonitor:
    def __init__(self, stack: LayerStack, sample_every: int, counters_file: Path | None = None):
        self.layers = []
        offset = 2  # counters[0]: samples seen, counters[1]: forward passes observed
        for layer in stack.built:
            rule = layer.health
            if rule is not None:
                neurons = int(np.prod(layer.output_shape))
                self.layers.append(WatchedLayer(layer.name, layer.definition.type.name, rule, neurons, offset))
                offset += neurons
        self.sample_every = sample_every
        self._memory, self._lock = _shared_memory(offset * 8, counters_file)
        self._counters = np.frombuffer(self._memory, dtype=np.int64)
        self._calls = itertools.count()
        self._paused = False

    @property
    def active(self) -> bool:
        return bool(self.layers) and self.sample_every > 0

    def should_sample(self) -> bool:
        return self.active and not self._paused and next(self._calls) % self.sample_every == 0

    @contextlib.contextmanager
    def paused(self):
        """In this process only: warm-up passes are not served traffic."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def record(self, values: dict[str, torch.Tensor | np.ndarray], rows: int) -> None:
        """Add one forward pass: the first `rows` rows of each watched layer's output (the rest is padding)."""
        hits = [(layer, np.asarray(layer.rule.hits(values[layer.name][:rows]))) for layer in self.layers]
        with self._lock.held():
            self._counters[0] += rows
            self._counters[1] += 1
            for layer, counts in hits:
                self._counters[layer.offset : layer.offset + layer.neurons] += counts

    def summary(self, max_values: int) -> dict:
        with self._lock.held():
            counters = self._counters.copy()
        samples = int(counters[0])
        return {
            "samples": samples,
            "forward_passes": int(counters[1]),
            "sample_every": self.sample_every,
            "layers": [
                {
                    "name": layer.name,
                    "type": layer.type,
                    **summarize(layer.rule, counters[layer.offset : layer.offset + layer.neurons], samples, max_values),
                }
                for layer in self.layers
            ],
        }


# One mapping and lock per counters file in each process: record locks belong to the process
# and file, and closing any descriptor of the file would drop the process's lock on it.
_opened: dict[Path, tuple[mmap.mmap, ProcessSharedLock]] = {}
_opening = threading.Lock()


def _shared_memory(size: int, path: Path | None) -> tuple[mmap.mmap, ProcessSharedLock]:
    """The counters file mapped, or, without one or when it cannot be used (an error, or a
    file of another size: the model's files changed while it loaded), memory of this process
    and the ones it forks later."""
    if path is not None:
        try:
            with _opening:
                if path not in _opened:
                    _opened[path] = _map(path, size)
                memory, lock = _opened[path]
            if len(memory) == size:
                return memory, lock
            log.warning("activation health counters %s hold another layout; counting in this process", path)
        except OSError as exc:
            log.warning("activation health counters %s: %s; counting in this process", path, exc)
    return anonymous_shared_memory(size), ProcessSharedLock()


def _map(path: Path, size: int) -> tuple[mmap.mmap, ProcessSharedLock]:
    file = open(path, "a+b")  # noqa: SIM115 - kept open for the process's lifetime
    lock = ProcessSharedLock(file)
    with lock.held():  # the first worker to get here sizes it; the bytes start at zero
        if os.fstat(file.fileno()).st_size == 0:
            os.ftruncate(file.fileno(), size)
    return mmap.mmap(file.fileno(), 0), lock  # the file's size: another layout shows
