"""Settings from the environment: the gRPC port is off by default and 0 keeps it off."""

import pytest

from service import config


def test_grpc_is_off_unless_a_port_is_set():
    assert config.settings({})["GRPC_PORT"] == 0
    assert config.settings({"LAYERSERVE_GRPC_PORT": "0"})["GRPC_PORT"] == 0
    assert config.settings({"LAYERSERVE_GRPC_PORT": "8001"})["GRPC_PORT"] == 8001


@pytest.mark.parametrize("value", ["-1", "grpc", "80.5"])
def test_a_bad_grpc_port_is_refused_by_name(value):
    with pytest.raises(ValueError, match="LAYERSERVE_GRPC_PORT"):
        config.settings({"LAYERSERVE_GRPC_PORT": value})
