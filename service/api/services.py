"""The service's parts, made once by the app factory and handed to the API as one typed object."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

from ..runtime.metrics import Metrics
from ..runtime.repository import ModelRepository
from .auth import AdminToken
from .pipeline import RequestPipeline

if TYPE_CHECKING:  # the server's hot reload is wired in by the app factory; the API only calls it
    from ..server.reload import WorkerSync

EXTENSION_KEY = "layerserve"


@dataclass(frozen=True)
class Services:
    repository: ModelRepository
    sync: "WorkerSync"
    metrics: Metrics
    pipeline: RequestPipeline
    admin_token: AdminToken


def services() -> Services:
    return current_app.extensions[EXTENSION_KEY]
