"""The simple protocol for curl users (TF Serving / KServe V1): instances in, predictions out."""

from flask import current_app

from ..runtime.inference import predict
from ..stack.deadline import Deadline
from . import inference_token_required, repository
from .auth import INFERENCE_SECURITY, INFERENCE_UNAUTHORIZED
from .parsing import Blueprint
from .schemas import PredictRequestSchema, PredictResponseSchema

blp = Blueprint("v1", __name__, url_prefix="/v1", description="Simple prediction protocol (KServe V1)")


@blp.route("/models/<name>:predict", methods=["POST"])
@inference_token_required
@blp.arguments(PredictRequestSchema)
@blp.response(200, PredictResponseSchema)
@blp.alt_response(401, description=INFERENCE_UNAUTHORIZED)
@blp.alt_response(504, description="inference ran past LAYERSERVE_INFER_TIMEOUT")
@blp.doc(security=INFERENCE_SECURITY)
def model_predict(request, name):
    """One instance per sample; with several inputs, each instance is an object keyed by input name."""
    deadline = Deadline.after(current_app.config["INFER_TIMEOUT"])
    return predict(repository().get(name), request["instances"], deadline)
