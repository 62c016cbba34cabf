"""GRPCInferenceService: health, metadata and inference on the runtime's model repository.

Every call of ModelInfer passes through the same request pipeline as HTTP (handed in by the
app factory's wiring): the inference token (the `authorization` metadata, "Bearer <token>"),
the request id (`x-request-id`), the request log line and the inference metrics (protocol
"grpc"). Errors are the service's own, answered with the gRPC status of their HTTP status.
"""

from typing import TYPE_CHECKING

import grpc

from .. import __version__
from ..errors import ModelNotReady, ModelUnavailable, ServiceError
from ..runtime.inference import infer
from ..runtime.repository import ModelRepository
from ..stack.deadline import Deadline
from . import grpc_predict_v2_pb2 as pb
from . import grpc_predict_v2_pb2_grpc as pb_grpc
from .messages import InferRequest, read_infer_request, request_document, response

if TYPE_CHECKING:  # handed in by the wiring; this package never imports the HTTP API
    from ..api.pipeline import RequestPipeline

INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
REQUEST_READERS = {INFER_PATH: read_infer_request}  # in place of the generated stubs' deserializers
REQUEST_ID_KEY = "x-request-id"

# The gRPC status of each HTTP status the service's errors carry.
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_code(http_status: int) -> grpc.StatusCode:
    return STATUS_CODES.get(http_status, grpc.StatusCode.UNKNOWN)


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, repository: ModelRepository, pipeline: "RequestPipeline", infer_timeout: float):
        self.repository = repository
        self.pipeline = pipeline
        self.infer_timeout = infer_timeout

    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.repository.ready)

    def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name="layerserve", version=__version__)

    def ModelReady(self, request, context):
        """Not ready (warming up, failed to load) is an answer; an unknown model or version is NOT_FOUND."""
        try:
            self.repository.get(request.name, request.version or None)
        except (ModelNotReady, ModelUnavailable):
            return pb.ModelReadyResponse(ready=False)
        except ServiceError as error:
            context.abort(status_code(error.status), error.message)
        return pb.ModelReadyResponse(ready=True)

    def ModelMetadata(self, request, context):
        try:
            model = self.repository.get(request.name, request.version or None)
        except ServiceError as error:
            context.abort(status_code(error.status), error.message)
        return pb.ModelMetadataResponse(
            name=model.name,
            versions=[model.version],
            platform="layerserve",
            inputs=[_tensor_metadata(spec) for spec in model.inputs],
            outputs=[_tensor_metadata(spec) for spec in model.outputs],
        )

    def ModelInfer(self, request: InferRequest, context):
        """`request` comes from read_infer_request (REQUEST_READERS), its raw contents kept apart."""
        exchange = self.pipeline.begin("POST", INFER_PATH, context.metadata_value(REQUEST_ID_KEY))
        exchange.protocol = "grpc"
        message = request.message
        exchange.details.update(model=message.model_name, version=message.model_version or None)
        context.set_trailing_metadata(((REQUEST_ID_KEY, exchange.request_id),))
        deadline = Deadline.after(self.infer_timeout)
        if context.deadline is not None and context.deadline.at < deadline.at:
            deadline = context.deadline  # the client stops waiting sooner: so does the work
        status = 200
        try:
            self.pipeline.check_inference_token(context.metadata_value("authorization"))
            return self._infer(request, exchange.details, deadline)
        except Exception as error:  # noqa: BLE001 (the pipeline logs what is not a ServiceError)
            answer = self.pipeline.answer_error(exchange, error)
            status = answer.status
            context.abort(status_code(status), answer.body["error"])
        finally:
            self.pipeline.finish(exchange, status)

    def _infer(self, request: InferRequest, details: dict, deadline: Deadline) -> pb.ModelInferResponse:
        model = self.repository.get(request.message.model_name, request.message.model_version or None)
        details["version"] = model.version
        with model.expecting():
            document, binary = request_document(request)
            result, _ = infer(model, document, binary, deadline)
        details["batch_size"] = result["outputs"][0]["shape"][0] if result["outputs"] else None
        # Outputs come back the way the inputs came: raw bytes for raw inputs, typed contents otherwise.
        return response(result, raw=binary is not None)


def _tensor_metadata(spec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=spec.name, datatype=spec.dtype.datatype, shape=spec.batched_shape
    )
