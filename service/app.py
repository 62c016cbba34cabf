"""The application factory."""

import logging
from pathlib import Path

from flask import Flask

from . import config
from .api import init_api
from .explorer import register_explorer
from .metrics import NO_METRICS, Metrics
from .repository import ModelRepository


def create_app(test_config: dict | None = None) -> Flask:
    """Defaults, then the environment, then `test_config`; loads every model folder.

    With DEFER_WARM_UP the caller warms the models up later: gunicorn does it in each worker,
    because torch compute in the master would not survive the fork.
    """
    app = Flask(__name__)
    app.config.from_mapping(config.settings(), DEFER_WARM_UP=False)
    app.config.from_mapping(test_config or {})
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    logging.basicConfig(level=app.config["LOG_LEVEL"].upper())

    metrics = Metrics(app.config["METRICS_DIR"]) if app.config["METRICS"] else NO_METRICS
    repository = ModelRepository(
        Path(app.config["MODELS_DIR"]),
        app.config["MAX_BATCH_SIZE"],
        app.config["HEALTH_SAMPLE_EVERY"],
        app.config["MAX_MODEL_PARAMETERS"],
        metrics,
    )
    repository.load_all()
    metrics.watch_models(repository)
    if not app.config["DEFER_WARM_UP"]:
        repository.warm_up()
    app.extensions["layerserve"] = repository
    app.extensions["layerserve.metrics"] = metrics
    init_api(app)
    register_explorer(app)
    return app
