"""The one piece of protobuf's wire format written by hand: base-128 varints (the lengths of the
raw output contents), against the examples of protobuf's encoding guide."""

import pytest

from service.grpc_api.wire import length_delimited_key, varint


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (150, b"\x96\x01"), (300, b"\xac\x02"),
     (2**31, b"\x80\x80\x80\x80\x08"), (2**63 - 1, b"\xff" * 8 + b"\x7f")],
)  # fmt: skip
def test_varint_is_protobufs(value, encoded):
    assert varint(value) == encoded


def test_the_key_of_a_length_delimited_field():
    assert length_delimited_key(6) == b"\x32"  # raw_output_contents of ModelInferResponse
    assert length_delimited_key(16) == b"\x82\x01"
