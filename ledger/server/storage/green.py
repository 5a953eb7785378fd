"""PostgreSQL connections that wait for their socket cheaply under gevent workers.

psycopg runs every exchange with the server as a generator that says what it waits for (the socket
readable, writable, or either) and is resumed once that holds. Under gevent it waits through
``select.poll`` as gevent patches it: every wait builds a poll object, a watcher and a timer, and
goes round the hub even when the socket is ready already. In pipeline mode that is once per
statement sent, on a socket that is writable by then: an append transaction waited ~20 times.

``GreenConnection.wait`` asks the kernel first, without blocking (psycopg's own readiness check),
and only when the socket is not ready does it give the greenlet up to the hub, on one I/O watcher,
until it is. ``Database`` connects with this class only when gevent has patched ``select`` in the
process (a gevent worker: ``is_green``); everywhere else psycopg waits as it always does.
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors
from psycopg.waiting import Ready, Wait

_ready: Callable[[int, Wait], int]
try:
    from psycopg_binary._psycopg import ready_c as _ready
except ImportError:  # pragma: no cover - the pure-Python driver: psycopg's poll-based check
    from psycopg.waiting import _ready_poll as _ready

#: The event loop's I/O event mask of each psycopg wait (1: readable, 2: writable).
_EVENTS = {Wait.R: 1, Wait.W: 2, Wait.RW: 3}
_BROKEN = select.POLLERR | select.POLLHUP | select.POLLNVAL


def is_green() -> bool:
    """Whether gevent has patched ``select`` in this process (a gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("select"))


class GreenConnection(psycopg.Connection[Any]):
    """A psycopg connection that yields to other greenlets only when it has to wait."""

    def wait(self, gen: Any, interval: float = 0.0, timeout: float | None = None) -> Any:
        return wait_green(gen, self.pgconn.socket, timeout)


def wait_green(gen: Any, fileno: int, timeout: float | None = None) -> Any:
    """Run a psycopg generator on socket ``fileno`` to its end and return its value.

    ``timeout`` (seconds; None: none) bounds the whole exchange, as in psycopg: past it,
    ``psycopg.errors._WaitTimeout`` is raised, which psycopg handles. A socket that reports an
    error or a hang-up without being readable raises ``OperationalError``, as psycopg does.
    """
    from gevent import get_hub  # noqa: PLC0415 - only ever called in a gevent worker

    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        wait = next(gen)
        while True:
            ready = _ready(fileno, wait)
            if not ready:
                _sleep_until_ready(get_hub(), fileno, wait, deadline)
                ready = _ready(fileno, wait)
                if not ready:
                    _raise_if_broken(fileno)
                    continue
            wait = gen.send(Ready(ready))
    except StopIteration as done:
        return done.value


def _sleep_until_ready(hub: Any, fileno: int, wait: Wait, deadline: float | None) -> None:
    """Give the greenlet up until the event loop sees ``fileno`` ready for ``wait``."""
    watcher = hub.loop.io(fileno, _EVENTS[wait])
    if deadline is None:
        hub.wait(watcher)
        return
    from gevent import Timeout  # noqa: PLC0415

    left = deadline - time.monotonic()
    if left > 0:
        try:
            with Timeout(left):
                hub.wait(watcher)
            return
        except Timeout:
            pass
    raise errors._WaitTimeout("wait timeout expired")  # psycopg handles its own signal


def _raise_if_broken(fileno: int) -> None:
    from gevent.monkey import get_original  # noqa: PLC0415

    poller = get_original("select", "poll")()  # the kernel's poll, not gevent's
    poller.register(fileno, select.POLLIN | select.POLLOUT)
    events = poller.poll(0)
    if events and events[0][1] & _BROKEN:
        raise psycopg.OperationalError("connection socket closed")
