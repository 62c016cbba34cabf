"""constraints.txt, the lock: it pins every dependency of every extra, inside pyproject's ranges,
with the hand-chosen pins of constraints.in, and never the CUDA build of torch. requirements.txt,
what the image installs, is its runtime part."""

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, Version]:
    """{canonical name: version} of the `name==version` lines of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            found[canonicalize_name(name)] = Version(version)
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [requirement for group in project["optional-dependencies"].values() for requirement in group]
    return [Requirement(text) for text in [*project["dependencies"], *extras]]


LOCK = pins(ROOT / "constraints.txt")


@pytest.mark.parametrize("requirement", declared(), ids=str)
def test_every_declared_requirement_is_pinned_inside_its_range(requirement):
    name = canonicalize_name(requirement.name)
    assert name in LOCK, f"{name} is not in constraints.txt: run `make lock`"
    assert requirement.specifier.contains(LOCK[name], prereleases=True), (
        f"{name}=={LOCK[name]} is outside {requirement}"
    )


def test_the_hand_chosen_pins_are_the_locked_ones():
    assert pins(ROOT / "constraints.in").items() <= LOCK.items()


def test_torch_is_the_cpu_build_and_nothing_of_cuda_is_locked():
    assert LOCK["torch"] == Version("2.13.0+cpu")
    # triton: the GPU compiler the CUDA build of torch pulls in (tritonclient, a client library, is fine)
    assert not [name for name in LOCK if name.startswith(("nvidia-", "cuda")) or name == "triton"]


def test_the_image_requirements_are_the_runtime_part_of_the_lock():
    runtime = pins(ROOT / "requirements.txt")
    assert runtime.items() <= LOCK.items()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {canonicalize_name(Requirement(text).name) for text in project["dependencies"]} <= runtime.keys()
    assert "pytest" not in runtime and "onnx" not in runtime  # no extra


def test_the_makefile_and_the_image_install_with_the_lock():
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c requirements.txt torch==2.13.0" in dockerfile
    assert "-r requirements.txt" in dockerfile
