"""The `layerserve` command: serve models over HTTP, or validate model folders."""

import os
import sys
from pathlib import Path

import click

GUNICORN_CONFIG = Path(__file__).with_name("gunicorn.conf.py")

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
def serve(models, host, port, workers):
    """Run the HTTP service under gunicorn with its config file."""
    overrides = {
        "LAYERSERVE_MODELS": models and str(Path(models).resolve()),
        "LAYERSERVE_HOST": host,
        "LAYERSERVE_PORT": port,
        "LAYERSERVE_WORKERS": workers,
    }
    os.environ.update({key: str(value) for key, value in overrides.items() if value is not None})
    os.environ.update({key: value for key, value in LEAN_MEMORY.items() if key not in os.environ})
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes a fresh one for this start
    _check_settings()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn) if gunicorn.exists() else "gunicorn", "--config", str(GUNICORN_CONFIG)]
    os.execvp(command[0], command)


def _check_settings():
    """Fail here with one line rather than with a traceback from inside gunicorn."""
    from . import config

    try:
        settings = config.settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not Path(settings["MODELS_DIR"]).is_dir():
        raise click.ClickException(f"models directory {settings['MODELS_DIR']!r} does not exist")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, file_okay=False))
def validate(paths):
    """Check model folders without serving: PATHS are model folders or a models directory (default: models)."""
    from .errors import DefinitionError
    from .stack import load_stack

    if not paths and not Path("models").is_dir():
        raise click.UsageError("no PATHS given and no models directory here")
    folders = list(_model_folders(paths or ("models",)))
    if not folders:
        raise click.ClickException(f"no model folders in {', '.join(paths or ('models',))}")
    failures = 0
    for folder in folders:
        try:
            definition, stack = load_stack(folder, _max_parameters())
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
    from .describe import describe_layers
    from .errors import DefinitionError
    from .served import ServedModel
    from .stack import load_stack

    folder = Path(model) if Path(model).is_dir() else Path(models) / model
    if not folder.is_dir():
        raise click.ClickException(f"no model folder {model!r} (nor {str(folder)!r})")
    try:
        definition, stack = load_stack(folder, _max_parameters())
    except DefinitionError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(format_layer_table(describe_layers(ServedModel(definition, stack, max_batch_size=1))))


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


def _max_parameters() -> int:
    """The server's limit, so validate and inspect refuse what serve would refuse."""
    from . import config

    try:
        return config.settings()["MAX_MODEL_PARAMETERS"]
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _model_folders(paths):
    """A folder with a definition file is a model; otherwise each of its subfolders is."""
    from .stack.definition import DEFINITION_FILES

    for raw in paths:
        path = Path(raw)
        if any((path / name).is_file() for name in DEFINITION_FILES):
            yield path
        else:
            yield from sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
