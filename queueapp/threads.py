"""The thread pool that runs the queue's synchronous calls for a web process's sockets."""

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings

# Gradio's max_threads: how many synchronous calls (Redis scripts, input decoding) one web
# process runs at once for all of its websockets.
_executor = ThreadPoolExecutor(max_workers=settings.LINEUP_MAX_THREADS, thread_name_prefix="lineup")


def run_sync(func):
    """`func` as a coroutine function that runs in the pool."""
    return sync_to_async(func, thread_sensitive=False, executor=_executor)
