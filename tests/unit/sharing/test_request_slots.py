"""RequestSlots: a few request threads run, the rest wait in arrival order; waiting threads give their slot back."""

import threading
import time

import pytest

from service.sharing import request_slots
from service.sharing.request_slots import RequestSlots


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def waiting(slots: RequestSlots, count: int):
    return lambda: len(slots._waiting) == count


def test_waiting_threads_get_their_turn_in_arrival_order():
    slots = RequestSlots(1)
    slots.acquire()
    order, threads = [], []
    for name in "abcd":

        def take(name=name):
            slots.acquire()
            order.append(name)
            slots.release()

        thread = threading.Thread(target=take)
        thread.start()
        threads.append(thread)
        wait_until(waiting(slots, len(threads)))  # queued before the next one starts
    slots.release()
    for thread in threads:
        thread.join(5)
    assert order == list("abcd")


@pytest.mark.parametrize("count", [1, 2, 3])
def test_no_more_than_the_slots_run_at_once(count):
    slots = RequestSlots(count)
    running, most, lock = [0], [0], threading.Lock()

    def work():
        slots.acquire()
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.005)
        with lock:
            running[0] -= 1
        slots.release()

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most[0] == count


def test_a_thread_waiting_for_something_else_lends_its_slot_and_takes_it_back():
    slots = RequestSlots(1)
    slots.acquire()
    other_ran, other_done = threading.Event(), threading.Event()

    def other():
        slots.acquire()
        other_ran.set()
        time.sleep(0.05)
        slots.release()
        other_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    wait_until(waiting(slots, 1))
    with slots.released():
        assert other_ran.wait(5), "the waiting thread did not get the lent slot"
    # back in the slot only once the other thread gave it up
    assert other_done.is_set()
    slots.release()
    thread.join(5)


def test_releasing_without_a_slot_frees_none():
    slots = RequestSlots(1)
    slots.release()  # this thread holds none: a no-op, not a second slot
    slots.acquire()
    second = threading.Thread(target=slots.acquire)
    second.start()
    wait_until(waiting(slots, 1))
    slots.release()
    second.join(5)
    assert not second.is_alive()


def test_outside_the_serving_worker_every_thread_runs():
    slots = request_slots.slots
    for _ in range(100):
        slots.acquire()
    with slots.released():
        pass
    slots.release()
