"""GET /metrics: every worker's numbers in the Prometheus text format."""

from flask import Response

from ..runtime.metrics import CONTENT_TYPE
from .parsing import Blueprint
from .services import services

blp = Blueprint("metrics", __name__, description="Prometheus metrics")


@blp.route("/metrics")
@blp.response(200, description="the Prometheus text exposition format", content_type=CONTENT_TYPE)
def metrics():
    """Inference requests, latencies, batch sizes and model states, summed over every worker."""
    return Response(services().metrics.exposition(), content_type=CONTENT_TYPE)
