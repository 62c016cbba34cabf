"""A loaded model as the service sees it: its signature, its limits, and its forward pass."""

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..errors import BadRequest, RequestTooLarge, clip
from ..stack import Definition, LayerStack
from ..stack.deadline import Deadline
from ..stack.limits import DEFAULT_LIMITS, ModelLimits
from ..stack.numpy_path import NumpyPath
from ..stack.optimize import optimize
from ..tensors.dtypes import BY_NAME
from ..tensors.spec import TensorSpec
from .activation_health import HealthMonitor
from .batching import DynamicBatcher
from .metrics import NO_MODEL_METRICS, ModelMetrics

log = logging.getLogger(__name__)


# A request's answer must be exactly the same whether it was merged with others or ran alone.
# oneMKL's strict reproducibility mode (set in service/__init__.py) gives that for any row
# count; where that mode is not honoured, CPU kernels were seen to take other code paths for
# fewer than four rows only. So with batching on, every forward pass runs at least this many
# rows (tests/unit/test_batching.py checks the answers bit for bit).
BATCH_INVARIANT_ROWS = 4

# numpy's BLAS (OpenBLAS, one thread) multiplies a single row faster than oneMKL in its strict
# mode, whatever the model's size (wide, 1024 → 4096 → 1024: 1.2 against 2.7 ms), but several
# rows slower once the weights outgrow a core's cache: two workers at once, a 1024 → 256 → 1024
# model (2 MiB) took 0.30 ms against 0.17 for 8 rows, wide 6.7 against 5.2 ms for 32. Smaller
# models keep numpy for every batch: there torch's cost per operator call is what counts.
NUMPY_BATCH_PARAMETER_BYTES = 1 << 20


_thread = threading.local()


def use_torch_threads_here() -> None:
    """torch.set_num_threads reaches OpenMP only in the thread that calls it: a request or
    batcher thread would otherwise compute with every core (oversubscribing the CPU with
    several workers) and get last-bit-different products than the thread that warmed up.
    Re-applies the process setting once in each thread that runs a forward pass."""
    if not getattr(_thread, "torch_threads_set", False):
        torch.set_num_threads(torch.get_num_threads())
        _thread.torch_threads_set = True


def _parameter_bytes(module: torch.nn.Module) -> int:
    return sum(parameter.numel() * parameter.element_size() for parameter in module.parameters())


def _pad(array: np.ndarray, rows: int) -> np.ndarray:
    padding = np.zeros((rows - array.shape[0], *array.shape[1:]), dtype=array.dtype)
    return np.concatenate([array, padding])


class ServedModel:
    def __init__(
        self,
        definition: Definition,
        stack: LayerStack,
        max_batch_size: int,
        health_sample_every: int = 0,
        metrics: ModelMetrics = NO_MODEL_METRICS,
        health_counters: Path | None = None,
        limits: ModelLimits = DEFAULT_LIMITS,
    ):
        self.definition = definition
        self.stack = stack
        self.name = definition.name
        self.version = str(definition.version)
        # A model may lower the server's limit, never raise it.
        self.max_batch_size = min(definition.max_batch_size or max_batch_size, max_batch_size)
        self.budgets = [  # (what, how many per sample, limit, its setting): a batch must fit in each
            (
                "tensor values in its layers",
                stack.sample_values,
                limits.max_request_values,
                "LAYERSERVE_MAX_REQUEST_VALUES",
            ),
            (
                "output values in its answer",
                stack.answer_values,
                limits.max_answer_values,
                "LAYERSERVE_MAX_ANSWER_VALUES",
            ),
            ("multiply-adds", stack.sample_macs, limits.max_request_macs, "LAYERSERVE_MAX_REQUEST_MACS"),
        ]
        self.largest_batch = min([self.max_batch_size] + [limit // max(per, 1) for _, per, limit, _ in self.budgets])
        dtype = BY_NAME[definition.dtype]
        limits = stack.index_limits()
        self.inputs = [
            TensorSpec(i.name, BY_NAME[i.dtype or definition.dtype], i.shape, limits.get(i.name))
            for i in definition.inputs
        ]
        layer_shapes = {layer.name: layer.output_shape for layer in stack.built}
        self.outputs = [TensorSpec(name, dtype, layer_shapes[name]) for name in definition.outputs]
        self.warmed_up = False  # also: warm-up passes are not served traffic, so not observed
        self.metrics = metrics
        self.serving = optimize(stack) or stack  # what infer runs; `stack` stays what was declared
        self.batcher = self._batcher(definition.dynamic_batching)
        self.numpy_path: NumpyPath | None = None  # chosen in each worker at warm-up
        self.numpy_batches = False  # whether it computes forwards of several rows too
        self.health = HealthMonitor(stack, health_sample_every, health_counters)

    def input_spec(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise BadRequest(f"model {self.name!r} has no input {clip(name)}; its inputs: {self._names(self.inputs)}")

    def check_outputs(self, requested: list[str]) -> None:
        known = {spec.name for spec in self.outputs}
        for name in requested:
            if name not in known:
                raise BadRequest(
                    f"model {self.name!r} has no output {clip(name)}; its outputs: {self._names(self.outputs)}"
                )

    def infer(self, arrays: dict[str, np.ndarray], deadline: Deadline | None = None) -> dict[str, np.ndarray]:
        """Run a batch: `arrays` maps every input name to an array of shape (batch, *input shape)."""
        self.check_inputs(arrays)
        inputs = [arrays[spec.name] for spec in self.inputs]
        outputs = self.batcher.run(inputs, deadline) if self.batcher else self.forward(inputs, deadline)
        return dict(zip(self.stack.output_names, outputs))

    def infer_later(
        self,
        arrays: dict[str, np.ndarray],
        deadline: Deadline | None,
        on_done: Callable[[dict | None, BaseException | None], None],
    ) -> None:
        """As infer, through the model's dynamic batcher, without waiting: `on_done(results,
        error)` runs in the batcher thread. Only for a model with a batcher."""
        self.check_inputs(arrays)
        names = self.stack.output_names

        def done(outputs, error):
            on_done(None if error else dict(zip(names, outputs)), error)

        self.batcher.submit([arrays[spec.name] for spec in self.inputs], deadline, done)

    def expecting(self):
        """Around a request, from arrival to answer: lets the batcher stop waiting for no one."""
        return self.batcher.expecting() if self.batcher else contextlib.nullcontext()

    def arrive(self) -> None:
        """As expecting(), for a request answered from another thread: arrive, then leave."""
        if self.batcher:
            self.batcher.arrive()

    def leave(self, queued: bool) -> None:
        if self.batcher:
            self.batcher.leave(queued)

    def forward(self, inputs: list[np.ndarray], deadline: Deadline | None = None) -> list[np.ndarray]:
        """The forward pass on numpy arrays. No parameter requires grad, so no graph is recorded
        and the cost of entering inference_mode (several µs) is saved."""
        use_torch_threads_here()
        started = time.perf_counter()
        rows = inputs[0].shape[0]
        if self.batcher and rows < BATCH_INVARIANT_ROWS:
            inputs = [_pad(array, BATCH_INVARIANT_ROWS) for array in inputs]
        if self.numpy_path is not None and (rows == 1 or self.numpy_batches):
            path, arguments = self.numpy_path, inputs
        else:
            path, arguments = self.serving, [torch.from_numpy(array) for array in inputs]
        if self.health.should_sample():
            values = path.run(*arguments, deadline=deadline)
            self.health.record(values, rows)
            results = [values[name] for name in path.output_names]
        else:
            results = path.forward(*arguments, deadline=deadline)
        outputs = [np.asarray(result)[:rows] for result in results]
        if self.warmed_up:
            self.metrics.forward_pass(rows, time.perf_counter() - started)
        return outputs

    def _batcher(self, config: dict | None) -> DynamicBatcher | None:
        if config is None:
            return None
        delay, preferred = config["max_queue_delay_microseconds"], config["preferred_batch_size"]
        return DynamicBatcher(self.forward, max(self.largest_batch, 1), delay, preferred, self._waited)

    def _waited(self, seconds: float) -> None:
        if self.warmed_up:
            self.metrics.queued(seconds)

    def warm_up(self) -> None:
        """Check the serving path against the declared stack, then one forward pass so the first
        real request does not pay for lazy initialization. Runs in each worker, after the fork."""
        if self.serving is not self.stack and not self._serving_path_agrees():
            log.warning(
                "model %s: the optimized serving path disagrees with the declared stack; using the stack", self.name
            )
            self.serving = self.stack
        self.numpy_path = self._numpy_path()
        self.numpy_batches = _parameter_bytes(self.serving) <= NUMPY_BATCH_PARAMETER_BYTES
        with self.health.paused():
            self.infer({s.name: np.zeros((1, *s.shape), dtype=s.dtype.numpy) for s in self.inputs})
        self.warmed_up = True

    @property
    def serving_backend(self) -> str:
        """What computes the serving path in this worker."""
        if self.numpy_path is None:
            return "torch"
        return "numpy" if self.numpy_batches else "numpy for one row, torch for more"

    def _serving_path_agrees(self) -> bool:
        rows = min(8, max(self.largest_batch, 1))
        return self._agrees_with_stack(lambda *probe: self.serving.forward(*map(torch.from_numpy, probe)), rows)

    def _numpy_path(self) -> NumpyPath | None:
        """The serving path in numpy, where it may serve: numpy computes with one thread, so only
        where torch is set to one as well (LAYERSERVE_TORCH_THREADS, default 1); not for batched
        models, whose answers must not depend on the batch's row count (oneMKL's strict mode
        guarantees that, see BATCH_INVARIANT_ROWS; numpy's BLAS does not); and only if it agrees
        with the declared stack."""
        if self.batcher or torch.get_num_threads() != 1:
            return None
        path = NumpyPath.build(self.serving)
        if path is None:
            return None
        if not all(self._agrees_with_stack(path.forward, rows) for rows in {1, min(8, max(self.largest_batch, 1))}):
            log.warning("model %s: the numpy serving path disagrees with the declared stack; using torch", self.name)
            return None
        return path

    def _agrees_with_stack(self, forward, rows: int) -> bool:
        rng = np.random.default_rng(0)
        probe = [spec.probe(rows, rng) for spec in self.inputs]
        declared_outputs = self.stack.forward(*map(torch.from_numpy, probe))
        for declared, served in zip(declared_outputs, forward(*probe), strict=True):
            scale = max(1.0, declared.abs().max().item())
            if not torch.allclose(declared, torch.as_tensor(served), rtol=1e-4, atol=1e-5 * scale):
                return False
        return True

    def check_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        missing = [spec.name for spec in self.inputs if spec.name not in arrays]
        if missing:
            raise BadRequest(
                f"model {self.name!r} needs inputs {self._names(self.inputs)}; missing: {', '.join(missing)}"
            )
        batch_sizes = set()
        for spec in self.inputs:
            array = arrays[spec.name]
            spec.check_shape(array.shape)
            spec.check_indices(array)
            batch_sizes.add(array.shape[0])
        if len(batch_sizes) > 1:
            raise BadRequest(f"inputs have different batch sizes: {sorted(batch_sizes)}")
        (batch,) = batch_sizes
        if not 1 <= batch <= self.max_batch_size:
            raise BadRequest(f"batch size {batch} is outside 1..{self.max_batch_size} for model {self.name!r}")
        self.check_budgets(batch)

    def check_budgets(self, batch: int) -> None:
        """Before any of it is computed: a batch whose values would exceed a request's budget."""
        for what, per_sample, limit, variable in self.budgets:
            if batch * per_sample > limit:
                raise RequestTooLarge(self.name, batch, what, batch * per_sample, limit, variable, self.largest_batch)

    @staticmethod
    def _names(specs) -> str:
        return ", ".join(spec.name for spec in specs)
