"""The connection table the workers share to spread keep-alive connections evenly."""

import os

from service.server.balance import ConnectionTable


def accepting(table: ConnectionTable) -> int:
    """A slot for a worker that has started and accepts connections."""
    slot = table.claim()
    table.set_accepting(slot, True)
    return slot


def test_a_worker_sees_the_fewest_connections_among_the_others():
    table = ConnectionTable(slots=4)
    first, second, third = accepting(table), accepting(table), accepting(table)
    table.set_connections(first, 5)
    table.set_connections(second, 2)
    table.set_connections(third, 7)
    assert table.fewest_elsewhere(first) == 2
    assert table.fewest_elsewhere(second) == 5


def test_a_lone_worker_has_no_sibling_to_leave_connections_to():
    table = ConnectionTable(slots=4)
    slot = accepting(table)
    table.set_connections(slot, 9)
    assert table.fewest_elsewhere(slot) is None


def test_a_sibling_starting_up_or_shutting_down_is_not_left_connections():
    table = ConnectionTable(slots=4)
    busy, starting = accepting(table), table.claim()  # claimed before the fork, warming up
    table.set_connections(busy, 3)
    assert table.fewest_elsewhere(busy) is None
    table.set_accepting(starting, True)
    assert table.fewest_elsewhere(busy) == 0
    table.set_accepting(starting, False)  # stopping
    assert table.fewest_elsewhere(busy) is None


def test_a_released_slot_no_longer_counts_and_is_reused_from_zero():
    table = ConnectionTable(slots=2)
    first, second = accepting(table), accepting(table)
    table.set_connections(second, 1)
    table.release(second)
    assert table.fewest_elsewhere(first) is None
    again = accepting(table)
    assert again == second
    assert table.connections(again) == 0
    assert table.fewest_elsewhere(first) == 0


def test_the_table_is_shared_with_forked_children():
    table = ConnectionTable(slots=2)
    parent_slot, child_slot = accepting(table), table.claim()
    pid = os.fork()
    if pid == 0:  # the child writes its own slot, as a worker does
        table.set_accepting(child_slot, True)
        table.set_connections(child_slot, 6)
        os._exit(0)
    os.waitpid(pid, 0)
    assert table.fewest_elsewhere(parent_slot) == 6
