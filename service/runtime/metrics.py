"""Prometheus metrics: inference requests, latencies, batch sizes and model states.

Under gunicorn every worker writes its numbers to files in PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode, set up in gunicorn.conf.py) and whichever worker
answers GET /metrics adds up all of them. Without that directory (tests, scripts) the numbers
live in this process only.

Label values are bound once per model and cached: looking up a labelled child costs more
than the observation itself.
"""

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE  # what every Prometheus version reads
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from ..sharing.pid import current_pid

__all__ = ["CONTENT_TYPE", "NO_METRICS", "NO_MODEL_METRICS", "Metrics", "ModelMetrics"]

# The model label of a request for a name the server does not know: clients cannot grow the label set.
UNKNOWN_MODEL = ""
MODEL_STATES = ("READY", "LOADING", "UNAVAILABLE")

# Seconds, from a tiny model's forward pass (tens of µs) to a request near the gunicorn timeout.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Rows per forward pass: powers of two up to the default LAYERSERVE_MAX_BATCH_SIZE.
BATCH_SIZE_BUCKETS = tuple(2**i for i in range(11))

# In multiprocess mode every observation asks for the process id to notice a fork: a system
# call each time, 8 per inference request. The id kept by service.pid answers the same.
if getattr(values.ValueClass, "_multiprocess", False):
    values.ValueClass = values.MultiProcessValue(process_identifier=current_pid)


class ModelMetrics:
    """One model's forward-pass observations, with its label values bound."""

    def __init__(self, queue: Histogram | None, compute: Histogram, batch_size: Histogram):
        self._queue = queue
        self._compute = compute
        self._batch_size = batch_size

    def queued(self, seconds: float) -> None:
        """A request waited this long in the dynamic batcher before its forward pass began."""
        self._queue.observe(seconds)

    def forward_pass(self, rows: int, seconds: float) -> None:
        self._compute.observe(seconds)
        self._batch_size.observe(rows)


class _NoModelMetrics(ModelMetrics):
    """For a model served outside the app (the CLI) or with LAYERSERVE_METRICS off."""

    def __init__(self):
        pass

    def queued(self, seconds: float) -> None:
        pass

    def forward_pass(self, rows: int, seconds: float) -> None:
        pass


NO_MODEL_METRICS = _NoModelMetrics()


class Metrics:
    def __init__(self, multiprocess_dir: str = ""):
        self.registry = CollectorRegistry()
        if multiprocess_dir:
            # The metric objects below write to files; the collector reads every worker's.
            MultiProcessCollector(self.registry, path=multiprocess_dir)
        own = None if multiprocess_dir else self.registry
        self._requests = Counter(
            "layerserve_inference_requests",
            "Inference requests (V2 infer, V1 predict, gRPC ModelInfer) answered, by model, protocol and HTTP status "
            "(for gRPC: the HTTP status of the same answer over HTTP).",
            ["model", "protocol", "status"],
            registry=own,
        )
        self._request_duration = Histogram(
            "layerserve_inference_request_duration_seconds",
            "Inference request latency inside the server, from arrival to a response ready to send.",
            ["model", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self._queue = Histogram(
            "layerserve_queue_duration_seconds",
            "Time a request waited in the model's dynamic batcher before its forward pass began.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self._compute = Histogram(
            "layerserve_compute_duration_seconds",
            "Forward pass duration, once per pass (a merged batch counts once).",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self._batch_size = Histogram(
            "layerserve_batch_size",
            "Rows per forward pass, after dynamic batching merged requests (padding not counted).",
            ["model"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=own,
        )
        self._repository = None
        self._request_children: dict[tuple[str, str, int], tuple] = {}

    def for_model(self, name: str, batched: bool) -> ModelMetrics:
        """A model without dynamic batching has no queue: no queue series for it."""
        queue = self._queue.labels(name) if batched else None
        return ModelMetrics(queue, self._compute.labels(name), self._batch_size.labels(name))

    def watch_models(self, repository) -> None:
        """Report the repository's models and their states, and label requests by their names."""
        self._repository = repository
        self.registry.register(_ModelStateCollector(repository))

    def inference_request(self, model: str, protocol: str, status: int, seconds: float) -> None:
        """One answered inference request; called on the hot path, so one dict lookup in the common case."""
        key = (model, protocol, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._bind_request(key)
        children[0].inc()
        children[1].observe(seconds)

    def _bind_request(self, key: tuple[str, str, int]) -> tuple:
        model, protocol, status = key
        if self._repository is None or model not in {entry.name for entry in self._repository.entries()}:
            model = UNKNOWN_MODEL
            key = (model, protocol, status)  # every unknown name shares one cache entry
            if key in self._request_children:
                return self._request_children[key]
        children = (self._requests.labels(model, protocol, str(status)), self._request_duration.labels(model, protocol))
        self._request_children[key] = children
        return children

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ModelStateCollector:
    """Each model's state as the answering worker sees it, read at scrape time: every worker
    loads the same folders (gunicorn preloads the app); only a warm-up failure differs."""

    def __init__(self, repository):
        self._repository = repository

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "layerserve_model_state",
            "1 for the model's current state (READY, LOADING or UNAVAILABLE), 0 for the others.",
            labels=["model", "version", "state"],
        )
        for entry in self._repository.entries():
            version = entry.versions[0] if entry.versions else ""
            for state in MODEL_STATES:
                family.add_metric([entry.name, version, state], 1.0 if entry.state == state else 0.0)
        yield family


class _NoMetrics:
    """LAYERSERVE_METRICS off: nothing observed, nothing to expose."""

    def for_model(self, name: str, batched: bool) -> ModelMetrics:
        return NO_MODEL_METRICS

    def watch_models(self, repository) -> None:
        pass

    def inference_request(self, model: str, protocol: str, status: int, seconds: float) -> None:
        pass


NO_METRICS = _NoMetrics()
