"""The application factory."""

import logging
from pathlib import Path

from flask import Flask

from . import config
from .api import init_api
from .api.auth import AdminToken, InferenceToken
from .api.pipeline import RequestPipeline
from .api.request_log import RequestLog
from .api.services import Services
from .explorer import register_explorer
from .runtime.metrics import NO_METRICS, Metrics
from .runtime.repository import ModelRepository
from .server.reload import SharedModelState, WorkerSync


def create_app(test_config: dict | None = None) -> Flask:
    """Defaults, then the environment, then `test_config`; loads every model folder.

    With DEFER_WARM_UP the caller warms the models up and starts following hot reloads later:
    gunicorn does it in each worker, because torch compute in the master would not survive the
    fork, and neither would a watcher thread.
    """
    app = Flask(__name__)
    # `/v2/` answers like `/v2` on every route: the Open Inference Protocol's own OpenAPI file
    # writes some paths with the slash. Set before any route is added (each rule reads it then).
    app.url_map.strict_slashes = False
    app.config.from_mapping(config.settings(), DEFER_WARM_UP=False)
    app.config.from_mapping(test_config or {})
    logging.basicConfig(level=app.config["LOG_LEVEL"].upper())

    metrics = Metrics(app.config["METRICS_DIR"]) if app.config["METRICS"] else NO_METRICS
    repository = ModelRepository(
        Path(app.config["MODELS_DIR"]),
        max_batch_size=app.config["MAX_BATCH_SIZE"],
        health_sample_every=app.config["HEALTH_SAMPLE_EVERY"],
        limits=config.model_limits(app.config),
        load_timeout=app.config["LOAD_TIMEOUT"],
        metrics=metrics,
        health_dir=_health_dir(app.config["METRICS_DIR"]),
    )
    repository.load_all()
    metrics.watch_models(repository)
    # made here, before gunicorn forks: every worker shares it (see reload.py)
    sync = WorkerSync(repository, SharedModelState(), confirm_timeout_s=app.config["TIMEOUT"])
    if not app.config["DEFER_WARM_UP"]:
        repository.warm_up()
        sync.start(watch=False)  # one process: nobody else to follow
    pipeline = RequestPipeline(
        request_log=RequestLog(app.config["REQUEST_LOG"]),
        metrics=metrics,
        inference_token=InferenceToken(app.config["INFER_TOKEN"]),
        max_body_bytes=app.config["MAX_BODY_BYTES"],
    )
    init_api(app, Services(repository, sync, metrics, pipeline, AdminToken(app.config["ADMIN_TOKEN"])))
    register_explorer(app)
    return app


def _health_dir(shared_dir: str) -> Path | None:
    """Activation-health counters go next to the metrics of gunicorn's workers: a directory
    each start makes afresh (gunicorn.conf.py) and every worker sees."""
    if not shared_dir:
        return None
    directory = Path(shared_dir) / "health"
    directory.mkdir(exist_ok=True)
    return directory
