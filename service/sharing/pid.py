"""This process's id without a system call per ask.

os.getpid() is a system call each time; the hot path asks several times per request (the
request log, prometheus_client's fork check on every observation). The id changes only at a
fork, and a fork hook refreshes it then.
"""

import os

_pid = os.getpid()


def _refresh() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_refresh)


def current_pid() -> int:
    return _pid
