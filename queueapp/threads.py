"""How a web process runs the queue's calls for its sockets: synchronous ones in a thread
pool, and reads that a crowd asks for at once as one shared call."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from asgiref.sync import sync_to_async
from django.conf import settings

log = logging.getLogger(__name__)

# Gradio's max_threads: how many synchronous calls (Redis scripts, input decoding) one web
# process runs at once for all of its websockets.
_executor = ThreadPoolExecutor(max_workers=settings.LINEUP_MAX_THREADS, thread_name_prefix="lineup")


def run_sync(func):
    """`func` as a coroutine function that runs in the pool."""
    return sync_to_async(func, thread_sensitive=False, executor=_executor)


def run_in_background(func, /, **kwargs) -> asyncio.Future:
    """Start `func(**kwargs)` in the pool without waiting for it; failures are logged."""
    future = asyncio.get_running_loop().run_in_executor(_executor, partial(func, **kwargs))
    future.add_done_callback(_log_failure)
    return future


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception():
        log.error("background call failed", exc_info=future.exception())


_running: dict[tuple, asyncio.Future] = {}


async def shared_call(what: tuple, fetch):
    """`await fetch()`, one call shared by all who ask for `what` while it runs: a burst of
    visitors arriving at a cold web process asks for the same settings a thousand times."""
    what = (asyncio.get_running_loop(), *what)
    running = _running.get(what)
    if running is None:
        running = _running[what] = asyncio.ensure_future(fetch())
        running.add_done_callback(lambda _: _running.pop(what, None))
    return await asyncio.shield(running)
