"""Records in shared memory: seen across a fork, addressed by name, out-of-range records refused."""

import os

import pytest

from service.sharing.shared_memory import MAX_WORKERS, SharedRecords


def in_child(write) -> None:
    """Run `write` in a forked child, as a worker does, and wait for it; fails if the child did."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            write()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_records_start_at_zero():
    table = SharedRecords(("state", "count"), 3)
    assert len(table) == 3
    assert table.records() == [(0, 0), (0, 0), (0, 0)]


def test_a_forked_childs_writes_are_seen_by_the_parent_and_the_parents_by_the_child():
    table = SharedRecords(("pid", "applied", "failed"), 4)
    table.set(0, applied=7)
    seen = SharedRecords(("applied",), 1)

    def worker():
        table.set(2, pid=os.getpid(), applied=5, failed=-3)
        seen.set(0, applied=table.get(0, "applied"))

    in_child(worker)
    assert table.record(2)[1:] == (5, -3)
    assert table.get(2, "pid") not in (0, os.getpid())
    assert seen.get(0, "applied") == 7


def test_fields_of_one_record_do_not_overlap_the_next():
    table = SharedRecords(("a", "b", "c"), 3)
    for record in range(3):
        table.set(record, a=10 * record + 1, b=10 * record + 2, c=10 * record + 3)
    assert table.records() == [(1, 2, 3), (11, 12, 13), (21, 22, 23)]
    assert table.column("b") == [2, 12, 22]
    assert table.record(1) == (11, 12, 13)


def test_values_are_64_bit_signed():
    table = SharedRecords(("value",), 2)
    table.set(0, value=2**63 - 1)
    table.set(1, value=-(2**63))
    assert table.column("value") == [2**63 - 1, -(2**63)]


@pytest.mark.parametrize("record", [-1, 4, MAX_WORKERS])
def test_a_record_out_of_range_is_refused_not_wrapped_to_another(record):
    table = SharedRecords(("state", "count"), 4)
    with pytest.raises(IndexError, match=f"record {record} out of range: there are 4"):
        table.get(record, "count")
    with pytest.raises(IndexError):
        table.set(record, count=1)
    with pytest.raises(IndexError):
        table.record(record)
    assert table.records() == [(0, 0)] * 4


def test_an_unknown_field_is_refused_by_name():
    table = SharedRecords(("state", "count"), 1)
    with pytest.raises(KeyError, match="no field 'pid'; the fields are state, count"):
        table.set(0, pid=1)
    with pytest.raises(KeyError):
        table.column("pid")


@pytest.mark.parametrize(("fields", "count"), [((), 2), (("a",), 0)])
def test_an_empty_table_is_refused(fields, count):
    with pytest.raises(ValueError):
        SharedRecords(fields, count)
