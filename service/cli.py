"""The `layerserve` command: serve, validate and inspect models; predict over HTTP; import and export."""

import json
import os
import re
import sys
from pathlib import Path

import click

GUNICORN_CONFIG = Path(__file__).parent / "server" / "gunicorn.conf.py"

# Read by glibc and MKL when the process starts, so set before gunicorn runs (an operator's
# own values win). Each worker thread would otherwise get its own malloc arena, and MKL keeps
# freed buffers for reuse: measured with 2 workers under load, a worker's private memory drops
# from about 84 MiB to 49 MiB.
LEAN_MEMORY = {"MALLOC_ARENA_MAX": "2", "MKL_DISABLE_FAST_MM": "1"}


@click.group()
@click.version_option(package_name="layerserve")
def main():
    """Serve declarative torch layer stacks over the Open Inference Protocol."""


@main.command()
@click.option(
    "--models", type=click.Path(file_okay=False), help="Models directory [LAYERSERVE_MODELS, default models]."
)
@click.option("--host", help="Address to bind [LAYERSERVE_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port to bind [LAYERSERVE_PORT, default 8000].")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes [LAYERSERVE_WORKERS, default 2].")
@click.option(
    "--grpc-port",
    type=click.IntRange(min=1, max=65535),
    help="Also serve the Open Inference Protocol over gRPC on this port [LAYERSERVE_GRPC_PORT, default off].",
)
def serve(models, host, port, workers, grpc_port):
    """Run the service (HTTP, and gRPC if given a port) under gunicorn with its config file."""
    overrides = {
        "LAYERSERVE_MODELS": models and str(Path(models).resolve()),
        "LAYERSERVE_HOST": host,
        "LAYERSERVE_PORT": port,
        "LAYERSERVE_WORKERS": workers,
        "LAYERSERVE_GRPC_PORT": grpc_port,
    }
    os.environ.update({key: str(value) for key, value in overrides.items() if value is not None})
    os.environ.update({key: value for key, value in LEAN_MEMORY.items() if key not in os.environ})
    for inherited in ("PROMETHEUS_MULTIPROC_DIR", "LAYERSERVE_OWNED_METRICS_DIR"):
        os.environ.pop(inherited, None)  # gunicorn.conf.py makes a fresh one for this start
    _check_settings()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn) if gunicorn.exists() else "gunicorn", "--config", str(GUNICORN_CONFIG)]
    os.execvp(command[0], command)


def _check_settings():
    """Fail here with one line rather than with a traceback from inside gunicorn."""
    settings = _settings()
    if not Path(settings["MODELS_DIR"]).is_dir():
        raise click.ClickException(f"models directory {settings['MODELS_DIR']!r} does not exist")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--types", "list_types", is_flag=True, help="List every layer type a model may use, and exit.")
def validate(paths, list_types):
    """Check model folders without serving: PATHS are model folders or a models directory (default: models)."""
    from .errors import DefinitionError
    from .runtime.inference import check_example
    from .runtime.served import ServedModel
    from .stack import load_stack

    if list_types:
        from .stack.layers import LAYER_TYPES

        click.echo("\n".join(LAYER_TYPES))
        return
    if not paths and not Path("models").is_dir():
        raise click.UsageError("no PATHS given and no models directory here")
    folders = list(_model_folders(paths or ("models",)))
    if not folders:
        raise click.ClickException(_nothing_to_validate(paths or ("models",)))
    failures = 0
    for folder in folders:
        try:
            definition, stack = load_stack(folder, _limits())
            check_example(ServedModel(definition, stack, _settings()["MAX_BATCH_SIZE"], limits=_limits()))
        except DefinitionError as exc:
            failures += 1
            click.echo(f"FAIL {folder.name}: {exc.message}", err=True)
            continue
        count = sum(p.numel() for p in stack.parameters())
        click.echo(
            f"ok   {folder.name} v{definition.version}: {_plural(len(stack.built), 'layer')}, {_plural(count, 'parameter')}"
        )
    sys.exit(1 if failures else 0)


@main.command()
@click.argument("model")
@click.option("--models", default="models", show_default=True, help="Models directory, when MODEL is a name.")
def inspect(model, models):
    """Print a model's layer table: shapes, parameters, bytes and multiply-adds per sample.

    MODEL is a model folder, or the name of one in the models directory.
    """
    from .errors import DefinitionError
    from .runtime.describe import describe_layers
    from .runtime.served import ServedModel
    from .stack import load_stack

    folder = _model_folder(model, models)
    try:
        definition, stack = load_stack(folder, _limits())
    except DefinitionError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(format_layer_table(describe_layers(ServedModel(definition, stack, max_batch_size=1))))


@main.command()
@click.argument("model")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url",
    envvar="LAYERSERVE_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The running server [LAYERSERVE_URL].",
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the answer.")
def predict(model, file, url, timeout):
    """Run MODEL on a running server with the inputs in FILE; print the outputs as JSON.

    FILE is JSON (a nested list, or an object of input name to nested list), a .npy array, or a
    .npz archive with one array per input name. The first dimension is the batch.
    """
    from layerserve_client import Client, LayerserveError

    from .tensors.input_files import read_inputs

    try:
        inputs = read_inputs(file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with Client(url, timeout=timeout) as client:
            result = client.infer(model, inputs, as_numpy=False)
    except LayerserveError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result.outputs))


@main.command("import")
@click.argument("source")
@click.argument("name")
@click.option(
    "--state-dict",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trained weights: a .safetensors file, or a torch.save'd state dict (read with weights_only=True).",
)
@click.option(
    "--trust-pickle",
    is_flag=True,
    help="Allow SOURCE to be a whole module saved with torch.save; loading it unpickles, which can run any code.",
)
@click.option("--input-shape", help="Per-sample input shape, e.g. 1,28,28 [default: from the first layer].")
@click.option("--input-name", default="input", show_default=True, help="The model input's name.")
@click.option("--description", default="", help="The model's description.")
@click.option("--models", default="models", show_default=True, help="Models directory to write MODELS/NAME into.")
@click.option("--force", is_flag=True, help="Replace the model files of an existing folder (others stay).")
def import_(source, name, state_dict, trust_pickle, input_shape, input_name, description, models, force):
    """Turn a PyTorch nn.Sequential into the model folder MODELS/NAME, once it serves the same outputs.

    SOURCE is FILE.py:NAME or MODULE:NAME (a Sequential, or a callable returning one), or a file
    of a whole module saved with torch.save (needs --trust-pickle).
    """
    from .convert.importing import (
        apply_state_dict,
        import_sequential,
        load_module_object,
        load_saved_module,
        load_state_dict,
    )
    from .errors import ServiceError
    from .stack.schema import NAME_PATTERN

    if not re.match(NAME_PATTERN, name):
        raise click.BadParameter("letters, digits and underscores, not starting with a digit", param_hint="NAME")
    try:
        if ":" in source and not Path(source).is_file():
            model = load_module_object(source)
        else:
            model = load_saved_module(Path(source), trust_pickle)
        if state_dict:
            apply_state_dict(model, load_state_dict(state_dict))
        folder = Path(models) / name
        shape = _shape(input_shape) if input_shape else None
        difference = import_sequential(model, folder, shape, input_name, description, replace=force)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"wrote {folder}: served outputs match the original (largest difference {difference:.3g})")


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise click.BadParameter(f"{text!r}: positive integers separated by commas", param_hint="--input-shape")
    return shape


@main.command()
@click.argument("model")
@click.option("--models", default="models", show_default=True, help="Models directory, when MODEL is a name.")
@click.option(
    "--format",
    "formats",
    type=click.Choice(["exported_program", "torchscript", "onnx"]),
    multiple=True,
    help="Repeat for several [default: exported_program and onnx].",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Directory for MODEL.pt2 (torch.export), MODEL.pt (TorchScript) and MODEL.onnx.",
)
def export(model, models, formats, output):
    """Write MODEL as a torch.export program and ONNX (or TorchScript), each checked against the
    served model's outputs.

    MODEL is a model folder, or the name of one in the models directory. The batch dimension
    stays dynamic in every file.
    """
    from .convert.exporting import export_model
    from .errors import ServiceError

    folder = _model_folder(model, models)
    try:
        written = export_model(folder, output, list(formats or ("exported_program", "onnx")))
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    for name, (path, difference) in written.items():
        click.echo(f"wrote {path} ({name}): matches the served outputs (largest difference {difference:.3g})")


def format_layer_table(described: dict) -> str:
    header = ("#", "layer", "type", "inputs", "output shape", "params", "bytes", "MACs")
    rows = [
        (
            str(layer["index"]),
            layer["name"],
            layer["type"],
            ", ".join(layer["inputs"]),
            str(layer["output_shape"]),
            f"{layer['parameter_count']:,}",
            f"{layer['parameter_bytes']:,}",
            f"{layer['macs']:,}",
        )
        for layer in described["layers"]
    ]
    total = (
        "",
        "total",
        "",
        "",
        "",
        f"{described['parameter_count']:,}",
        f"{described['parameter_bytes']:,}",
        f"{described['macs']:,}",
    )
    widths = [max(len(row[i]) for row in [header, *rows, total]) for i in range(len(header))]
    right = {0, 5, 6, 7}

    def line(row):
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    steps = " -> ".join("+".join(step["layers"]) for step in described["serving_path"])
    title = f"{described['model_name']} v{described['model_version']} (batch dimension -1; bytes of parameters, MACs per sample)"
    return "\n".join([title, line(header), rule, *map(line, rows), rule, line(total), "", f"serving path: {steps}"])


def _model_folder(model: str, models: str) -> Path:
    folder = Path(model) if Path(model).is_dir() else Path(models) / model
    if not folder.is_dir():
        raise click.ClickException(f"no model folder {model!r} (nor {str(folder)!r})")
    return folder


def _limits():
    """The server's limits, so validate and inspect refuse what serve would refuse."""
    from . import config

    return config.model_limits(_settings())


def _settings() -> dict:
    """The server's settings from the environment, or the one-line error a bad value gives."""
    from . import config

    try:
        return config.settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _nothing_to_validate(paths) -> str:
    from .stack.definition import DEFINITION_FILES

    others = ", ".join(DEFINITION_FILES[1:])
    return f"no {DEFINITION_FILES[0]} (nor {others}) in {', '.join(paths)}, and no model folders inside"


def _model_folders(paths):
    """A folder with a definition file is a model; otherwise each of its subfolders is."""
    from .stack.definition import DEFINITION_FILES

    for raw in paths:
        path = Path(raw)
        if any((path / name).is_file() for name in DEFINITION_FILES):
            yield path
        else:
            yield from sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
