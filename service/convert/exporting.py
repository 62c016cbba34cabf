"""`layerserve export`: a model's declared stack as a torch.export program, TorchScript or ONNX,
each checked against the served outputs.

The stack is exported as declared (one graph node per layer, named as in model.yaml), not the
serving path with its fused layers; the check compares with what the server answers, so both
agree within float tolerance. The batch dimension stays free in both formats.
"""

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConversionError
from ..runtime.served import ServedModel
from .check import check_outputs, load_served, probe_inputs

# Rows traced by the exporters: neither 0 nor 1, which torch.export would treat as fixed sizes.
EXAMPLE_ROWS = 2
# The largest batch an exported graph admits; far beyond any server's max_batch_size.
MAX_EXPORTED_BATCH = 2**31 - 1


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    write: Callable[[ServedModel, Path], None]
    run: Callable[[Path, dict[str, np.ndarray]], list[np.ndarray]]


def _example(served: ServedModel) -> tuple[torch.Tensor, ...]:
    return tuple(torch.zeros(EXAMPLE_ROWS, *s.shape, dtype=s.dtype.torch) for s in served.inputs)


@contextlib.contextmanager
def _quiet_exporter():
    """torch warns that TorchScript is deprecated and logs its ONNX steps; the check below is what counts."""
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        onnx_log.setLevel(level)


def _dynamic_batch(example: tuple[torch.Tensor, ...]) -> tuple:
    """torch.export's dynamic_shapes for LayerStack.forward(*inputs): one entry, a tuple with one
    spec per input, each leaving dimension 0 (the batch) free."""
    batch = torch.export.Dim("batch", min=1, max=MAX_EXPORTED_BATCH)
    return (tuple({0: batch} for _ in example),)


def write_exported_program(served: ServedModel, path: Path) -> None:
    example = _example(served)
    with _quiet_exporter():
        program = torch.export.export(served.stack, example, dynamic_shapes=_dynamic_batch(example))
    torch.export.save(program, str(path))


def run_exported_program(path: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    module = torch.export.load(str(path)).module()
    with torch.no_grad():
        outputs = module(*(torch.from_numpy(array) for array in inputs.values()))
    return [t.numpy() for t in (outputs if isinstance(outputs, tuple) else (outputs,))]


def write_torchscript(served: ServedModel, path: Path) -> None:
    with _quiet_exporter():
        traced = torch.jit.trace(served.stack, _example(served), check_trace=False)
        traced.save(str(path))


def run_torchscript(path: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    with _quiet_exporter():
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        outputs = module(*(torch.from_numpy(array) for array in inputs.values()))
    return [t.numpy() for t in (outputs if isinstance(outputs, tuple) else (outputs,))]


def write_onnx(served: ServedModel, path: Path) -> None:
    example = _example(served)
    with _quiet_exporter():
        torch.onnx.export(
            served.stack,
            example,
            str(path),
            dynamo=True,
            dynamic_shapes=_dynamic_batch(example),
            input_names=[s.name for s in served.inputs],
            output_names=[s.name for s in served.outputs],
            external_data=False,
            verbose=False,
        )


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


FORMATS = {
    "exported_program": Format("exported_program", ".pt2", write_exported_program, run_exported_program),
    "torchscript": Format("torchscript", ".pt", write_torchscript, run_torchscript),
    "onnx": Format("onnx", ".onnx", write_onnx, run_onnx),
}


def export_model(folder: Path, output_dir: Path, formats: list[str]) -> dict[str, tuple[Path, float]]:
    """Write each format to OUTPUT_DIR/<model><suffix> and check it; {format: (path, largest difference)}."""
    _require_onnx_packages(formats)
    served = load_served(folder)
    inputs = probe_inputs(served)
    expected = served.infer(inputs)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in formats:
        export = FORMATS[name]
        path = output_dir / f"{served.name}{export.suffix}"
        try:
            export.write(served, path)
        except Exception as exc:  # the exporters raise many types; the first line says what failed
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConversionError(f"{served.name}: {name} export failed: {reason}") from exc
        got = dict(zip(expected, export.run(path, inputs)))
        written[name] = (path, check_outputs(f"{path.name} ({name})", expected, got))
    return written


def _require_onnx_packages(formats: list[str]) -> None:
    if "onnx" not in formats:
        return
    missing = [p for p in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(p) is None]
    if missing:
        raise ConversionError(
            f"ONNX export needs {', '.join(missing)}: pip install 'layerserve[export]' (with -c constraints.txt)"
        )
