"""One event loop for the tests, in a thread of its own: the queue's async services, called
from synchronous tests, run there as they do on a web process's loop (which keeps its
Redis connections from call to call)."""

import asyncio
import threading

from queueapp.services import jobs

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def on_loop(coroutine):
    """Run `coroutine` on the tests' loop and return its result."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="tests-loop", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop).result()


def submit(**kwargs) -> jobs.Joined:
    """`jobs.job_submit`, the one admission path, from a synchronous test."""
    return on_loop(jobs.job_submit(**kwargs))
