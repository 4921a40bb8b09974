"""Celery tasks and worker hooks: thin wrappers around the worker's loop."""

import os
import socket
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from . import worker

_stop = threading.Event()


@shared_task(name="lineup.drain_demo", ignore_result=True, acks_late=True)
def drain_demo(slug: str) -> int:
    """Wake-up for a worker of the demo's pool: run its batches while any wait."""
    return worker.drain_demo(slug)


@worker_ready.connect
def start_background_threads(sender, **kwargs) -> None:
    """Every worker sweeps the lines, so recovery does not depend on any one node, announces
    itself to its pools, and loads the models of its pools' demos."""
    threading.Thread(
        target=worker.sweep_forever, args=(_stop,), name="lineup-sweeper", daemon=True
    ).start()
    about = {
        "name": f"{sender.hostname}/{os.getpid()}",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pools": sorted(queue.name for queue in sender.task_consumer.queues),
        "concurrency": sender.controller.concurrency,
        "models": [],
        "gpu": None,
    }
    threading.Thread(
        target=worker.heartbeat_forever, args=(_stop, about), name="lineup-heartbeat", daemon=True
    ).start()
    threading.Thread(
        target=worker.warm_up, args=(about,), name="lineup-warm-up", daemon=True
    ).start()


@worker_shutdown.connect
def stop_background_threads(**kwargs) -> None:
    _stop.set()
