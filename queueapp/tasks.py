"""Celery tasks and worker hooks: thin wrappers around the worker's loop."""

import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from . import worker

_sweeper_stop = threading.Event()


@shared_task(name="lineup.drain_demo", ignore_result=True, acks_late=True)
def drain_demo(slug: str) -> int:
    """Wake-up for a worker of the demo's pool: run its batches while any wait."""
    return worker.drain_demo(slug)


@worker_ready.connect
def start_sweeper(**kwargs) -> None:
    """Every worker sweeps the lines, so recovery does not depend on any one node."""
    threading.Thread(
        target=worker.sweep_forever, args=(_sweeper_stop,), name="lineup-sweeper", daemon=True
    ).start()


@worker_shutdown.connect
def stop_sweeper(**kwargs) -> None:
    _sweeper_stop.set()
