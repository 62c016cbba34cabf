"""Endpoints that show what happens inside a model: a traced batch, and activation health over traffic."""

from flask import current_app

from ..runtime.tracing import trace
from ..stack.deadline import Deadline
from . import MODEL, MODEL_VERSION, inference_token_required, repository
from .auth import INFERENCE_SECURITY, INFERENCE_UNAUTHORIZED
from .parsing import Blueprint
from .schemas import HealthReportSchema, TraceRequestSchema, TraceResponseSchema

blp = Blueprint("trace", __name__, url_prefix="/v2", description="Inside a model: traces and activation health")


@blp.route(MODEL + "/trace", methods=["POST"])
@blp.route(MODEL_VERSION + "/trace", methods=["POST"])
@inference_token_required
@blp.arguments(TraceRequestSchema)
@blp.response(200, TraceResponseSchema)
@blp.alt_response(401, description=INFERENCE_UNAUTHORIZED)
@blp.alt_response(504, description="the trace ran past LAYERSERVE_INFER_TIMEOUT")
@blp.doc(security=INFERENCE_SECURITY)
def trace_batch(request, name, version=None):
    """Run a batch through the declared layers and return every layer's output, statistics, steps and health.

    parameters.weights and parameters.activations run this request only with tensors replaced or
    activations swapped ("what if"); the answer's `overrides` says which.
    """
    deadline = Deadline.after(current_app.config["INFER_TIMEOUT"])
    return trace(repository().get(name, version), request, current_app.config["TRACE_MAX_VALUES"], deadline)


@blp.route(MODEL + "/health")
@blp.route(MODEL_VERSION + "/health")
@blp.response(200, HealthReportSchema)
def activation_health(name, version=None):
    """Dead ReLUs and saturated Sigmoid/Tanh neurons over served traffic, summed over every worker."""
    model = repository().get(name, version)
    report = model.health.summary(current_app.config["TRACE_MAX_VALUES"])
    return {"model_name": model.name, "model_version": model.version, **report}
