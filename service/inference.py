"""The data plane: protocol requests → arrays → a served model's forward pass → protocol responses."""

from .codec import decode_input, encode_output, numbers_to_array, to_model_dtype
from .errors import BadRequest
from .served import ServedModel


def infer(model: ServedModel, request: dict) -> dict:
    """An Open Inference Protocol request, already checked against InferRequestSchema."""
    arrays = {}
    for tensor in request["inputs"]:
        spec = model.input_spec(tensor["name"])
        if spec.name in arrays:
            raise BadRequest(f"input {spec.name!r} is given more than once")
        arrays[spec.name] = decode_input(tensor, spec)
    requested = [output["name"] for output in request.get("outputs") or []]
    model.check_outputs(requested)
    results = model.infer(arrays)
    response = {
        "model_name": model.name,
        "model_version": model.version,
        "outputs": [encode_output(name, results[name]) for name in requested or results],
    }
    if "id" in request:
        response["id"] = request["id"]
    return response


def predict(model: ServedModel, instances: list) -> dict:
    """The simple protocol: one instance per sample; a dict per instance when there are several inputs."""
    if len(model.inputs) == 1:
        spec = model.inputs[0]
        arrays = {spec.name: to_model_dtype(numbers_to_array(instances, "instances"), spec, "instances")}
    else:
        _check_instance_keys(model, instances)
        arrays = {spec.name: _column(instances, spec) for spec in model.inputs}
    results = model.infer(arrays)
    if len(results) == 1:
        (result,) = results.values()
        return {"predictions": result.tolist()}
    columns = {name: tensor.tolist() for name, tensor in results.items()}
    return {"predictions": [dict(zip(columns, row)) for row in zip(*columns.values())]}


def _check_instance_keys(model: ServedModel, instances: list) -> None:
    names = {spec.name for spec in model.inputs}
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict) or set(instance) != names:
            got = sorted(instance) if isinstance(instance, dict) else type(instance).__name__
            raise BadRequest(f"instances[{index}]: expected an object with keys {sorted(names)}, got {got}")


def _column(instances: list, spec):
    column = [instance[spec.name] for instance in instances]
    where = f"instances[*].{spec.name}"
    return to_model_dtype(numbers_to_array(column, where), spec, where)
