"""The little of protobuf's wire format written by hand (protobuf.dev/programming-guides/encoding):
a length-delimited field's key and length, so that large byte fields travel as views of the
arrays they hold instead of copies made by the message classes."""


def length_delimited_key(field_number: int) -> bytes:
    """The key of a length-delimited field (wire type 2): field number and type as a varint."""
    return varint(field_number << 3 | 2)


def varint(value: int) -> bytes:
    """A base-128 varint, least significant group first (value ≥ 0)."""
    if value <= 0x7F:
        return bytes((value,))
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
