"""Activation health over served traffic, shared by every worker process.

The counters live in an anonymous shared mapping made before gunicorn forks, so each worker
adds to the same numbers and any worker can answer GET .../health for all of them. Only every
Nth forward pass is observed (LAYERSERVE_HEALTH_SAMPLE_EVERY): counting costs a few tensor ops.
"""

import contextlib
import itertools
import mmap
from dataclasses import dataclass

import numpy as np
import torch

from .shared_lock import ProcessSharedLock
from .stack import LayerStack
from .stack.health import HealthRule, summarize


@dataclass(frozen=True)
class WatchedLayer:
    name: str
    type: str
    rule: HealthRule
    neurons: int
    offset: int  # into the shared counters


class HealthMonitor:
    def __init__(self, stack: LayerStack, sample_every: int):
        self.layers = []
        offset = 2  # counters[0]: samples seen, counters[1]: forward passes observed
        for layer in stack.built:
            rule = layer.health
            if rule is not None:
                neurons = int(np.prod(layer.output_shape))
                self.layers.append(WatchedLayer(layer.name, layer.definition.type.name, rule, neurons, offset))
                offset += neurons
        self.sample_every = sample_every
        self._memory = mmap.mmap(-1, offset * 8)  # MAP_SHARED | MAP_ANONYMOUS: survives fork, shared
        self._counters = np.frombuffer(self._memory, dtype=np.int64)
        self._lock = ProcessSharedLock()
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
        hits = [(layer, layer.rule.hits(torch.as_tensor(values[layer.name][:rows])).numpy()) for layer in self.layers]
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
