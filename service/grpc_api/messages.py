"""ModelInferRequest ⇄ the data plane's request document and arrays; arrays → ModelInferResponse.

A request is turned into the document the HTTP API decodes (runtime/inference.py), so both
protocols check inputs, shapes, datatypes and outputs in one place: raw_input_contents become
the binary part of the binary tensor extension, typed contents become the JSON `data` lists.

A large request's raw_input_contents are taken apart from the rest of its encoding (which
protobuf reads) and stay views of the call's body until the decoder copies them into arrays.
An answer with raw outputs is encoded as the message without them, followed by one
raw_output_contents field per output written straight from its array: protobuf parses
concatenated encodings as one message, repeated fields appended. The arrays' bytes are copied
once, into the answer, not four times (tobytes, the message, its encoding, gRPC's framing).
"""

import sys

import numpy as np

from ..errors import BadRequest, clip
from . import grpc_predict_v2_pb2 as pb
from .wire import length_delimited_key, split_field, varint

# The InferTensorContents field of each protocol datatype the service serves.
CONTENTS_FIELD = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT32": "int_contents", "INT64": "int64_contents"}


SPLIT_BYTES = 16 * 1024  # smaller messages are read by protobuf alone: their copies cost less than a split


class InferRequest:
    """A ModelInferRequest as read off the wire: the message, and its raw_input_contents apart."""

    def __init__(self, message: pb.ModelInferRequest, raw: list):
        self.message = message
        self.raw = raw  # bytes, or views of the call's body


def read_infer_request(data: memoryview) -> InferRequest:
    """ModelInfer's request deserializer."""
    if len(data) >= SPLIT_BYTES:
        split = split_field(data, pb.ModelInferRequest.RAW_INPUT_CONTENTS_FIELD_NUMBER)
        if split is not None:
            rest, raw = split
            return InferRequest(pb.ModelInferRequest.FromString(rest), raw)
    message = pb.ModelInferRequest.FromString(data)
    return InferRequest(message, list(message.raw_input_contents))  # each read of a bytes field copies it


def request_document(infer_request: InferRequest) -> tuple[dict, memoryview | None]:
    """The request as an Open Inference Protocol document and, for raw contents, its binary part."""
    request, raw = infer_request.message, infer_request.raw
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; give one per input, or none"
        )
    inputs = [_input(index, tensor, raw[index] if raw else None) for index, tensor in enumerate(request.inputs)]
    document = {"inputs": inputs}
    if request.outputs:
        document["outputs"] = [{"name": output.name} for output in request.outputs]
    if request.id:
        document["id"] = request.id
    return document, memoryview(raw[0] if len(raw) == 1 else b"".join(raw)) if raw else None


def _input(index: int, tensor, raw: bytes | memoryview | None) -> dict:
    shape = list(tensor.shape)
    if any(dimension < 0 for dimension in shape):
        raise BadRequest(f"inputs[{index}].shape: dimensions must be 0 or more, got {clip(shape)}")
    document = {"name": tensor.name, "datatype": tensor.datatype, "shape": shape}
    if raw is not None:
        if tensor.HasField("contents"):
            raise BadRequest(f"inputs[{index}] ({clip(tensor.name)}) has contents while raw_input_contents is used")
        document["parameters"] = {"binary_data_size": len(raw)}
        return document
    field = CONTENTS_FIELD.get(tensor.datatype)
    if field is None or not tensor.HasField("contents"):
        return document  # the decoder names what is wrong: the datatype, or no data
    given = [descriptor.name for descriptor, _ in tensor.contents.ListFields()]
    if given and given != [field]:
        raise BadRequest(f"inputs[{index}] ({clip(tensor.name)}): {tensor.datatype} values go in contents.{field}")
    document["data"] = list(getattr(tensor.contents, field))
    return document


class EncodedAnswer:
    """A message already encoded, in parts (joined once, behind gRPC's length prefix)."""

    def __init__(self, parts: list, size: int):
        self.parts = parts
        self.size = size


RAW_OUTPUT_CONTENTS_KEY = length_delimited_key(pb.ModelInferResponse.RAW_OUTPUT_CONTENTS_FIELD_NUMBER)
_BIG_ENDIAN_HOST = sys.byteorder == "big"


def response(document: dict, raw: bool) -> pb.ModelInferResponse | EncodedAnswer:
    """The data plane's response document (outputs as arrays) as a ModelInferResponse, its outputs
    in raw_output_contents (little-endian) or, when the request used typed contents, in contents."""
    answer = pb.ModelInferResponse(model_name=document["model_name"], model_version=document["model_version"])
    if "id" in document:
        answer.id = document["id"]
    raw_parts, raw_size = [], 0
    for output in document["outputs"]:
        data = output["data"]
        tensor = answer.outputs.add(name=output["name"], datatype=output["datatype"], shape=output["shape"])
        if raw:
            contents = np.ascontiguousarray(data).byteswap() if _BIG_ENDIAN_HOST else np.ascontiguousarray(data)
            length = varint(contents.nbytes)
            raw_parts += [RAW_OUTPUT_CONTENTS_KEY, length, contents]
            raw_size += len(RAW_OUTPUT_CONTENTS_KEY) + len(length) + contents.nbytes
        else:
            getattr(tensor.contents, CONTENTS_FIELD[output["datatype"]]).extend(data.tolist())
    if not raw:
        return answer
    message = answer.SerializeToString()
    return EncodedAnswer([message, *raw_parts], len(message) + raw_size)
