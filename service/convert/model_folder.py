"""Write a converted model as a model folder: model.yaml (one layer a line) and weights.safetensors."""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml
from safetensors.numpy import save_file

from ..errors import ConversionError
from .sequential import WEIGHTS_FILE, Converted

MODEL_FILES = ("model.yaml", WEIGHTS_FILE)


def definition_text(document: dict) -> str:
    """YAML in the style of the bundled models: top-level keys in block style, each layer on one line."""
    head = {key: value for key, value in document.items() if key not in ("inputs", "layers", "outputs")}
    lines = [yaml.safe_dump(head, sort_keys=False, width=10**6, allow_unicode=True).rstrip()]
    for key in ("inputs", "layers"):
        lines.append(f"{key}:")
        lines.extend(f"  - {_flow(item)}" for item in document[key])
    lines.append(f"outputs: {_flow(document['outputs'])}")
    return "\n".join(lines) + "\n"


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()


def write_model_folder(converted: Converted, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    definition_file, weights_file = (folder / name for name in MODEL_FILES)
    definition_file.write_text(definition_text(converted.document), encoding="utf-8")
    if converted.tensors:
        save_file(converted.tensors, str(weights_file))
        # safetensors writes its file owner-only; a server running as another user must read it too
        shutil.copymode(definition_file, weights_file)


def publish_model_folder(
    converted: Converted, folder: Path, check: Callable[[Path], None], replace: bool = False
) -> None:
    """Write the files beside their destination, run `check` on them, and only then move them
    into place, so a server never starts on a half-written or unverified model. Replacing keeps
    the folder's other files (a training script, say) and drops a weights file no longer used."""
    if folder.exists() and not replace:
        raise ConversionError(f"{folder} already exists (--force replaces its model files)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        draft = staging / folder.name  # the definition's name must match its folder's
        write_model_folder(converted, draft)
        check(draft)
        folder.mkdir(exist_ok=True)
        for name in MODEL_FILES:
            if (draft / name).exists():
                (draft / name).replace(folder / name)
            else:
                (folder / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
