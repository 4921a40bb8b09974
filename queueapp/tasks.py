"""Celery tasks: thin wrappers around the worker's loop."""

from celery import shared_task

from . import worker


@shared_task(name="lineup.drain_demo", ignore_result=True, acks_late=True)
def drain_demo(slug: str) -> int:
    """Wake-up for a worker of the demo's pool: run its batches while any wait."""
    return worker.drain_demo(slug)
