"""The data plane: protocol requests → arrays → a served model's forward pass → protocol responses."""

from ..errors import BadRequest, DefinitionError, clip
from ..stack.deadline import Deadline
from ..tensors.codec import decode_input, numbers_to_array, output_tensor
from .served import ServedModel


def infer(
    model: ServedModel, request: dict, binary: memoryview | None = None, deadline: Deadline | None = None
) -> tuple[dict, set[str]]:
    """An Open Inference Protocol request, already checked against InferRequestSchema.

    `binary` holds the raw tensor bytes that follow the JSON header (binary tensor extension).
    Returns the response document (output data as numpy arrays) and the outputs to send as bytes.
    """
    prepared = PreparedInference(model, request, binary)
    return prepared.respond(model.infer(prepared.arrays, deadline))


class PreparedInference:
    """A request decoded and checked, before its forward pass; `respond` makes its answer from
    the results (in another thread, when the request waited for a dynamic batch)."""

    def __init__(self, model: ServedModel, request: dict, binary: memoryview | None = None):
        self.model = model
        self.request = request
        self._as_binary = _binary_choice(request)
        self.arrays = decode_inputs(model, request, binary)
        self._requested = [output["name"] for output in request.get("outputs") or []]
        model.check_outputs(self._requested)

    def respond(self, results: dict) -> tuple[dict, set[str]]:
        document = {
            "model_name": self.model.name,
            "model_version": self.model.version,
            "outputs": [output_tensor(name, results[name]) for name in self._requested or results],
        }
        if "id" in self.request:
            document["id"] = self.request["id"]
        return document, {output["name"] for output in document["outputs"] if self._as_binary(output["name"])}


def decode_inputs(model: ServedModel, request: dict, binary: memoryview | None = None) -> dict:
    """The request's input tensors as arrays of each input's dtype, by input name."""
    arrays = {}
    for tensor, blob in zip(request["inputs"], _input_blobs(request["inputs"], binary)):
        spec = model.input_spec(tensor["name"])
        if spec.name in arrays:
            raise BadRequest(f"input {spec.name!r} is given more than once")
        arrays[spec.name] = decode_input(tensor, spec, blob)
    return arrays


def _input_blobs(inputs: list[dict], binary: memoryview | None) -> list[memoryview | None]:
    """Each input's slice of the binary part, in order, by its parameters.binary_data_size."""
    blobs, offset = [], 0
    for index, tensor in enumerate(inputs):
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            blobs.append(None)
            continue
        where = f"inputs[{index}].parameters.binary_data_size"
        if binary is None:
            raise BadRequest(f"{where} is set, but the request has no binary part (Inference-Header-Content-Length)")
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise BadRequest(f"{where} is {clip(size)}; {len(binary) - offset} bytes of binary data remain")
        blobs.append(binary[offset : offset + size])
        offset += size
    if binary is not None and offset != len(binary):
        raise BadRequest(
            f"the binary part has {len(binary)} bytes, but the inputs' binary_data_size add up to {offset}"
        )
    return blobs


def _binary_choice(request: dict):
    """Which outputs go as raw bytes: binary_data_output for all, binary_data per output overrides."""
    default = _flag(request.get("parameters"), "binary_data_output", "parameters.binary_data_output", False)
    choices = {
        output["name"]: _flag(
            output.get("parameters"), "binary_data", f"outputs[{index}].parameters.binary_data", default
        )
        for index, output in enumerate(request.get("outputs") or [])
    }
    return lambda name: choices.get(name, default)


def _flag(parameters: dict | None, key: str, where: str, default: bool) -> bool:
    value = (parameters or {}).get(key, default)
    if type(value) is not bool:
        raise BadRequest(f"{where} must be true or false, got {clip(value)}")
    return value


def predict(model: ServedModel, instances: list, deadline: Deadline | None = None) -> dict:
    """The simple protocol: one instance per sample; a dict per instance when there are several inputs."""
    with model.expecting():
        if len(model.inputs) == 1:
            spec = model.inputs[0]
            arrays = {spec.name: numbers_to_array(instances, len(spec.shape) + 1, spec, "instances")}
        else:
            _check_instance_keys(model, instances)
            arrays = {spec.name: _column(instances, spec) for spec in model.inputs}
        results = model.infer(arrays, deadline)
    if len(results) == 1:
        (result,) = results.values()
        return {"predictions": result}
    columns = results
    return {"predictions": [dict(zip(columns, row)) for row in zip(*columns.values())]}


def _check_instance_keys(model: ServedModel, instances: list) -> None:
    names = {spec.name for spec in model.inputs}
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict) or set(instance) != names:
            got = clip(sorted(instance)) if isinstance(instance, dict) else type(instance).__name__
            raise BadRequest(f"instances[{index}]: expected an object with keys {sorted(names)}, got {got}")


def _column(instances: list, spec):
    column = [instance[spec.name] for instance in instances]
    return numbers_to_array(column, len(spec.shape) + 1, spec, f"instances[*].{spec.name}")


def check_example(model: ServedModel) -> None:
    """The definition's `example` must be a batch the model accepts, as a request's inputs are."""
    example = model.definition.example
    if example is None:
        return
    try:
        names = [spec.name for spec in model.inputs]
        unknown = sorted(set(example) - set(names))
        if unknown:
            raise BadRequest(f"no input named {', '.join(map(clip, unknown))}; inputs: {', '.join(names)}")
        arrays = {
            spec.name: numbers_to_array(example[spec.name], len(spec.shape) + 1, spec, f"input {spec.name!r}")
            for spec in model.inputs
            if spec.name in example
        }
        model.check_inputs(arrays)
    except BadRequest as exc:
        raise DefinitionError(f"{model.definition.file.name}: example: {exc.message}") from None
