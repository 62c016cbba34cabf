"""Builds the package as pyproject.toml says, first generating the gRPC stubs of service/grpc_api
from the protocol's .proto (grpcio-tools is a build requirement), for wheels and editable installs alike."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO = ROOT / "service" / "grpc_api" / "grpc_predict_v2.proto"


def generate_grpc_stubs() -> None:
    """grpc_predict_v2_pb2.py, _pb2.pyi and _pb2_grpc.py beside the .proto, importable as service.grpc_api.*."""
    import grpc_tools
    from grpc_tools import protoc

    well_known_types = Path(grpc_tools.__file__).parent / "_proto"
    arguments = ["protoc", f"-I{ROOT}", f"-I{well_known_types}", f"--python_out={ROOT}", f"--pyi_out={ROOT}"]
    if protoc.main([*arguments, f"--grpc_python_out={ROOT}", str(PROTO)]) != 0:
        raise SystemExit(f"protoc failed on {PROTO}")


class BuildPyWithStubs(build_py):
    def run(self):
        generate_grpc_stubs()
        super().run()


setup(cmdclass={"build_py": BuildPyWithStubs})
