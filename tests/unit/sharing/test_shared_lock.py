"""The lock shared by forked workers: exclusive across processes and threads, freed when its holder dies."""

import os
import signal
import threading
import time

from service.sharing.shared_lock import ProcessSharedLock


def test_a_process_killed_while_holding_the_lock_does_not_block_the_others():
    lock = ProcessSharedLock()
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        with lock.held():
            os.write(ready_write, b"x")
            time.sleep(60)
        os._exit(0)
    os.read(ready_read, 1)
    acquired = threading.Event()

    def take():
        with lock.held():
            acquired.set()

    waiter = threading.Thread(target=take, daemon=True)
    waiter.start()
    assert not acquired.wait(0.3), "the lock held by the child must exclude this process"
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    assert acquired.wait(5), "the lock of a killed holder must be released"


def test_threads_of_one_process_exclude_each_other():
    lock = ProcessSharedLock()
    inside, most = [0], [0]

    def work():
        for _ in range(200):
            with lock.held():
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_a_wait_the_kernel_calls_a_deadlock_waits_until_the_lock_is_free():
    """POSIX record locks belong to processes, so the kernel sees a cycle where threads make none:
    this process holds `first` (one thread) and waits for `second` (another thread) while the child
    holding `second` asks for `first`. The child waits its turn instead of failing (EDEADLK)."""
    first, second = ProcessSharedLock(), ProcessSharedLock()
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            with second.held():
                os.write(ready_write, b"x")
                os.read(go_read, 1)
                with first.held():
                    status = 0
        finally:
            os._exit(status)
    os.read(ready_read, 1)
    release_first, got_second = threading.Event(), threading.Event()

    def hold_first():
        with first.held():
            release_first.wait(10)

    def wait_for_second():
        with second.held():
            got_second.set()

    holder, waiter = threading.Thread(target=hold_first), threading.Thread(target=wait_for_second)
    holder.start()
    time.sleep(0.1)
    waiter.start()
    time.sleep(0.2)  # the waiter is blocked on the child's lock
    os.write(go_write, b"x")
    time.sleep(0.3)
    release_first.set()
    _, status = os.waitpid(child, 0)
    holder.join(5)
    assert os.waitstatus_to_exitcode(status) == 0, "the child's wait for the lock failed"
    assert got_second.wait(5)
