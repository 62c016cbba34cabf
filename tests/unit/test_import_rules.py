"""Who may import whom (ARCHITECTURE.md): a forbidden arrow anywhere in the code fails here.

Imports are read from the source (ast), relative ones resolved, wherever they sit (top level or
inside a function); imports under `if TYPE_CHECKING:` are annotations only and do not count.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package → packages it must never import (prefix match on dotted module names)
FORBIDDEN = {
    "service.stack": ["service.runtime", "service.server", "service.api", "service.sharing", "service.convert",
                      "service.explorer", "service.app", "service.cli", "service.wsgi", "service.config",
                      "flask", "gunicorn", "werkzeug"],
    "service.tensors": ["service.runtime", "service.server", "service.api", "service.stack", "flask", "gunicorn"],
    "service.sharing": ["service.stack", "service.tensors", "service.runtime", "service.server", "service.api",
                        "torch", "flask", "gunicorn"],
    "service.runtime": ["service.api", "service.server", "service.app", "service.cli", "flask", "gunicorn",
                        "werkzeug"],
    "service.api": ["service.server", "service.cli", "gunicorn"],
    "service.server": ["service.api", "service.cli"],
    "service.grpc_api": ["service.api", "service.server", "service.app", "service.cli", "service.wsgi",
                         "service.convert", "service.explorer", "flask", "werkzeug", "gunicorn"],
    "layerserve_client": ["service", "torch", "flask"],
}  # fmt: skip


def source_files():
    for path in sorted((ROOT / "service").rglob("*.py")):
        yield path, "service"
    for path in sorted((ROOT / "client" / "layerserve_client").rglob("*.py")):
        yield path, "client"


def module_name(path: Path, tree: str) -> str:
    base = ROOT / "client" if tree == "client" else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, module: str) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    annotation_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in annotation_only:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append(target)
            found += [f"{target}.{alias.name}" for alias in node.names]  # `from . import x` imports x
    return found


def violations() -> list[str]:
    found = []
    for path, tree in source_files():
        module = module_name(path, tree)
        for owner, forbidden in FORBIDDEN.items():
            if module != owner and not module.startswith(owner + "."):
                continue
            for target in imported_modules(path, module):
                for banned in forbidden:
                    if target == banned or target.startswith(banned + "."):
                        found.append(f"{path.relative_to(ROOT)}: {module} imports {target} ({owner} ↛ {banned})")
    return sorted(set(found))


def test_no_forbidden_import():
    assert violations() == []


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("from ..api import services\n", "service/runtime/x.py"),
        ("import flask\n", "service/stack/x.py"),
        ("def f():\n    from ..runtime.served import ServedModel\n", "service/tensors/x.py"),
        ("from service.runtime import repository\n", "client/layerserve_client/x.py"),
        ("from ..api.pipeline import RequestPipeline\n", "service/grpc_api/x.py"),
        ("import flask\n", "service/grpc_api/x.py"),
    ],
)
def test_a_forbidden_import_is_found(tmp_path, monkeypatch, source, where):
    """The checker itself: each of these must be reported."""
    fake_root = tmp_path
    for package in (
        "service/stack",
        "service/runtime",
        "service/tensors",
        "service/grpc_api",
        "client/layerserve_client",
    ):
        (fake_root / package).mkdir(parents=True, exist_ok=True)
    (fake_root / where).write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", fake_root)
    found = violations()
    assert found, source
    assert all(line.startswith(where) for line in found), found


def test_type_checking_imports_do_not_count(tmp_path, monkeypatch):
    (tmp_path / "service" / "api").mkdir(parents=True)
    (tmp_path / "client" / "layerserve_client").mkdir(parents=True)
    (tmp_path / "service" / "api" / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..server.reload import WorkerSync\n"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert violations() == []
