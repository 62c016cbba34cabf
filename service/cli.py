"""The `layerserve` command: serve models over HTTP, or validate model folders."""

import os
import sys
from pathlib import Path

import click

GUNICORN_CONFIG = Path(__file__).with_name("gunicorn.conf.py")


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
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn) if gunicorn.exists() else "gunicorn", "--config", str(GUNICORN_CONFIG)]
    os.execvp(command[0], command)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, file_okay=False))
def validate(paths):
    """Check model folders without serving: PATHS are model folders or a models directory (default: models)."""
    from .errors import DefinitionError
    from .stack import load_stack

    failures = 0
    for folder in _model_folders(paths or ("models",)):
        try:
            definition, stack = load_stack(folder)
        except DefinitionError as exc:
            failures += 1
            click.echo(f"FAIL {folder.name}: {exc.message}", err=True)
            continue
        count = sum(p.numel() for p in stack.parameters())
        click.echo(f"ok   {folder.name} v{definition.version}: {len(stack.built)} layers, {count} parameters")
    sys.exit(1 if failures else 0)


def _model_folders(paths):
    """A folder with a definition file is a model; otherwise each of its subfolders is."""
    from .stack.definition import DEFINITION_FILES

    for raw in paths:
        path = Path(raw)
        if any((path / name).is_file() for name in DEFINITION_FILES):
            yield path
        else:
            yield from sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
