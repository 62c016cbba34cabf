"""ModelInferRequest ⇄ the data plane's request document and arrays; arrays → ModelInferResponse.

A request is turned into the document the HTTP API decodes (runtime/inference.py), so both
protocols check inputs, shapes, datatypes and outputs in one place: raw_input_contents become
the binary part of the binary tensor extension, typed contents become the JSON `data` lists.
"""

import numpy as np

from ..errors import BadRequest, clip
from . import grpc_predict_v2_pb2 as pb

# The InferTensorContents field of each protocol datatype the service serves.
CONTENTS_FIELD = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT32": "int_contents", "INT64": "int64_contents"}


def request_document(request: pb.ModelInferRequest) -> tuple[dict, memoryview | None]:
    """The request as an Open Inference Protocol document and, for raw contents, its binary part."""
    raw = request.raw_input_contents
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
    return document, memoryview(b"".join(raw)) if raw else None


def _input(index: int, tensor, raw: bytes | None) -> dict:
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


def response(document: dict, raw: bool) -> pb.ModelInferResponse:
    """The data plane's response document (outputs as arrays) as a ModelInferResponse, its outputs
    in raw_output_contents (little-endian) or, when the request used typed contents, in contents."""
    answer = pb.ModelInferResponse(model_name=document["model_name"], model_version=document["model_version"])
    if "id" in document:
        answer.id = document["id"]
    for output in document["outputs"]:
        data = output["data"]
        tensor = answer.outputs.add(name=output["name"], datatype=output["datatype"], shape=output["shape"])
        if raw:
            answer.raw_output_contents.append(np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes())
        else:
            getattr(tensor.contents, CONTENTS_FIELD[output["datatype"]]).extend(data.tolist())
    return answer
