"""Trace: the path of a batch through the declared layers, with every layer's output and health.

It runs the layers as declared, one by one (not the optimized serving path), so what it shows
is what the definition says; its outputs agree with /infer to float tolerance.
"""

import torch
import torch.nn.functional as F

from ..stack.deadline import Deadline
from ..stack.health_rules import summarize
from ..tensors.codec import output_tensor
from .inference import decode_inputs
from .served import ServedModel, use_torch_threads_here

LINEAR_STEPS = ("Linear", "Dense")


def trace(model: ServedModel, request: dict, max_values: int, deadline: Deadline | None = None) -> dict:
    arrays = decode_inputs(model, request)
    model.check_inputs(arrays)
    requested = [output["name"] for output in request.get("outputs") or []]
    model.check_outputs(requested)
    use_torch_threads_here()
    values = {name: torch.from_numpy(array) for name, array in arrays.items()}
    layers = []
    for index, (built, module) in enumerate(zip(model.stack.built, model.stack.layers)):
        if deadline is not None:
            deadline.check(built.name)
        arguments = [values[source] for source in built.sources]
        values[built.name] = module(*arguments)
        layers.append(_layer(index, built, module, arguments, values[built.name], max_values))
    document = {
        "model_name": model.name,
        "model_version": model.version,
        "max_values": max_values,
        "inputs": [{"name": name, **bounded(values[name], max_values)} for name in arrays],
        "layers": layers,
        "outputs": [output_tensor(name, values[name].numpy()) for name in requested or model.stack.output_names],
    }
    if "id" in request:
        document["id"] = request["id"]
    return document


def _layer(index, built, module, arguments, output, max_values) -> dict:
    kind = built.definition.type
    described = {
        "index": index,
        "name": built.name,
        "type": kind.name,
        "inputs": list(built.sources),
        "input_shapes": [list(a.shape) for a in arguments],
        "output": bounded(output, max_values),
        "stats": statistics(output),
    }
    if kind.name in LINEAR_STEPS:
        described["steps"] = _linear_steps(kind.name, module, arguments[0], output, max_values)
    if built.health is not None:
        described["health"] = summarize(built.health, built.health.hits(output), output.shape[0], max_values)
    return described


def _linear_steps(kind: str, module, x, output, max_values) -> list[dict]:
    """x·W before the bias, the bias, then their sum: the dense layer as a person computes it."""
    product = x @ module.weight if kind == "Dense" else F.linear(x, module.weight)
    steps = [{"name": "product", **bounded(product, max_values)}]
    if module.bias is not None:
        steps.append({"name": "bias", **bounded(module.bias, max_values)})
    steps.append({"name": "output", **bounded(output, max_values)})
    return steps


def bounded(tensor: torch.Tensor, max_values: int) -> dict:
    """At most max_values of a tensor, flat in row-major order, with its whole shape."""
    flat = tensor.detach().reshape(-1)
    return {"shape": list(tensor.shape), "data": flat[:max_values].numpy(), "truncated": flat.numel() > max_values}


def statistics(tensor: torch.Tensor) -> dict:
    """Over the whole batch; min/max/mean/std over the finite values, NaN and Inf counted apart."""
    values = tensor.detach().double()
    finite = values[torch.isfinite(values)]
    described = {"nan": int(torch.isnan(values).sum()), "inf": int(torch.isinf(values).sum())}
    if finite.numel() == 0:
        return {"min": None, "max": None, "mean": None, "std": None, **described}
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
        "std": float(finite.std(unbiased=False)),
        **described,
    }
