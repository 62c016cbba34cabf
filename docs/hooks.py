"""MkDocs hook: pages write `<!-- generated: NAME -->` where a table is made from the code at build time.

So the layer-type reference follows the layer registry, the settings table the config table, the
route list the OpenAPI document and the command reference `--help`: none of them can drift.
"""

import ast
import collections
import inspect
import re
import tempfile
from pathlib import Path

from marshmallow import fields, validate

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")
INCLUDE = re.compile(r"<!-- include: ([\w./-]+) -->")


def on_page_markdown(markdown, page, config, files):
    markdown = INCLUDE.sub(lambda match: _include(match.group(1)), markdown)
    return MARKER.sub(lambda match: GENERATORS[match.group(1)](), markdown)


def _include(path: str) -> str:
    """A top-level file's text without its first heading (the page has its own), or nothing if absent."""
    file = ROOT / path
    if not file.is_file():
        return ""
    return re.sub(r"\A# .*\n", "", file.read_text(encoding="utf-8"))


# --- the layer registry -------------------------------------------------------------------------


def layer_types() -> str:
    from service.stack.layers import LAYER_TYPES

    rows = [
        "| type | torch module | hyper-parameters (default) | inputs | tensors (filled by `init: {seed: N}`) | health | shape rule |"
    ]
    rows.append("|---|---|---|---|---|---|---|")
    for layer_type in LAYER_TYPES.values():
        rows.append(
            "| "
            + " | ".join(
                [
                    f"`{layer_type.name}`",
                    f"`{_module_name(layer_type.module)}`",
                    _hyperparameters(layer_type.params),
                    _arity(layer_type),
                    _first_line(layer_type.seed) if layer_type.has_tensors else "none",
                    _health(layer_type),
                    _shape_rule(layer_type),
                ]
            )
            + " |"
        )
    return "\n".join(rows) + f"\n\n{len(LAYER_TYPES)} layer types.\n"


def _module_name(module) -> str:
    return f"nn.{module.__name__}" if module.__module__.startswith("torch.") else module.__name__


def _hyperparameters(schema) -> str:
    described = [_field(name, field) for name, field in schema().fields.items()]
    return ", ".join(described) or "none"


def _field(name: str, field: fields.Field) -> str:
    if field.required:
        default = "required"
    elif field.load_default is None:
        default = "optional"
    else:
        value = field.load_default() if callable(field.load_default) else field.load_default
        default = (
            f"`{value!r}`" if isinstance(value, str) else f"{value}".lower() if isinstance(value, bool) else f"{value}"
        )
    rules = [_validator(v) for v in _validators(field)]
    return f"`{name}` ({'; '.join([default, *filter(None, rules)])})"


def _validators(field: fields.Field) -> list:
    inner = getattr(field, "inner", None)
    return list(field.validators) + (list(inner.validators) if inner is not None else [])


def _validator(validator) -> str:
    if isinstance(validator, validate.OneOf):
        return "one of " + ", ".join(f"`{choice}`" for choice in validator.choices)
    if isinstance(validator, validate.Range):
        low = "" if validator.min is None else f"{validator.min} ≤ "
        high = "" if validator.max is None else f" ≤ {validator.max}"
        return f"{low}value{high}" if low or high else ""
    if isinstance(validator, validate.NoneOf):
        return "not " + ", ".join(str(value) for value in validator.iterable)
    return ""


def _arity(layer_type) -> str:
    return f"{layer_type.arity} or more" if layer_type.variadic else str(layer_type.arity)


def _health(layer_type) -> str:
    if layer_type.health is None:
        return ""
    return layer_type.health(collections.defaultdict(float)).counted


def _shape_rule(layer_type) -> str:
    """Every shape rule says in its docstring what it does: a new layer type documents itself."""
    rule = _first_line(layer_type.infer)
    if not rule:
        raise ValueError(
            f"layer type {layer_type.name}: its shape rule {layer_type.infer.__qualname__} has no docstring"
        )
    return rule


def _first_line(function) -> str:
    doc = inspect.getdoc(function) or ""
    return doc.split("\n\n")[0].replace("\n", " ").replace("|", "\\|")


# --- the config table --------------------------------------------------------------------------


def settings() -> str:
    from service.config import SETTINGS

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS.values():
        if setting.variable.startswith("LAYERSERVE_"):
            rows.append(f"| `{setting.variable}` | {_default(setting.default)} | {setting.meaning} |")
    return "\n".join(rows) + "\n"


def _default(value) -> str:
    if value == "":
        return "empty"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


# --- the HTTP routes (OpenAPI) -------------------------------------------------------------------


def routes() -> str:
    spec = openapi_document()
    rows = ["| method | path | what |", "|---|---|---|"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "delete", "patch"):
                summary = (operation.get("summary") or operation.get("description") or "").replace("|", "\\|")
                rows.append(f"| {method.upper()} | `{path}` | {summary} |")
    return "\n".join(rows) + "\n"


def openapi_document() -> dict:
    """The document /openapi.json serves, from an app over an empty models directory (with
    the repository endpoints and metrics enabled, so every route is listed)."""
    from service.app import create_app

    with tempfile.TemporaryDirectory() as models:
        app = create_app(
            {"MODELS_DIR": models, "DEFER_WARM_UP": True, "REQUEST_LOG": False, "ADMIN_TOKEN": "x", "METRICS": True}
        )
        return app.test_client().get("/openapi.json").get_json()


# --- the command line ----------------------------------------------------------------------------


def cli_help() -> str:
    from click.testing import CliRunner

    from service.cli import main

    runner = CliRunner()
    sections = []
    for name in [None, *main.commands]:
        args = [name, "--help"] if name else ["--help"]
        result = runner.invoke(main, args, prog_name="layerserve", terminal_width=100)
        title = f"`layerserve {name}`" if name else "`layerserve`"
        sections.append(f"### {title}\n\n```text\n{result.output.rstrip()}\n```\n")
    return "\n".join(sections)


# --- the module map ------------------------------------------------------------------------------


def module_map() -> str:
    """Every module under service/ and client/ with the first line of its docstring."""
    lines = ["```text"]
    for package in ("service", "client/layerserve_client"):
        for file in sorted((ROOT / package).rglob("*.py")):
            relative = file.relative_to(ROOT).as_posix()
            docstring = ast.get_docstring(ast.parse(file.read_text(encoding="utf-8"))) or ""
            lines.append(f"{relative:<40} {docstring.splitlines()[0] if docstring else ''}".rstrip())
    lines.append("```")
    return "\n".join(lines) + "\n"


GENERATORS = {
    "layer-types": layer_types,
    "settings": settings,
    "routes": routes,
    "cli-help": cli_help,
    "module-map": module_map,
}
