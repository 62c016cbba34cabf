"""The little of protobuf's wire format written by hand (protobuf.dev/programming-guides/encoding):
a length-delimited field's key and length, and a message's top-level fields of one number taken
apart from the rest, so that large byte fields travel as views of the buffers that hold them
instead of copies made by the message classes."""

MAX_VARINT_BYTES = 10


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


def split_field(message: memoryview, field_number: int) -> tuple[bytes, list[memoryview]] | None:
    """The message without its top-level length-delimited fields of this number, and their values
    as views of the message, in order. None when the message is not one to take apart here (a
    group, the field with another wire type, a field running past the end): protobuf's own
    parser then reads it whole and says what is wrong with it."""
    try:
        return _split_field(message, field_number)
    except _RunsPastTheEnd:
        return None


class _RunsPastTheEnd(Exception):
    pass


def _split_field(message: memoryview, field_number: int) -> tuple[bytes, list[memoryview]] | None:
    rest, values = [], []
    offset, start, size = 0, 0, len(message)
    while offset < size:
        key, value_start = _read_varint(message, offset)
        wire_type = key & 7
        if wire_type == 0:
            _, end = _read_varint(message, value_start)
        elif wire_type == 1:
            end = value_start + 8
        elif wire_type == 2:
            length, data_start = _read_varint(message, value_start)
            end = data_start + length
        elif wire_type == 5:
            end = value_start + 4
        else:
            return None
        if end > size:
            raise _RunsPastTheEnd
        if key >> 3 == field_number:
            if wire_type != 2:
                return None
            rest.append(message[start:offset])
            values.append(message[data_start:end])
            start = end
        offset = end
    rest.append(message[start:])
    return b"".join(rest), values


def _read_varint(data: memoryview, offset: int) -> tuple[int, int]:
    """The varint at offset and the offset after it."""
    value = shift = 0
    for index in range(offset, min(offset + MAX_VARINT_BYTES, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    raise _RunsPastTheEnd
