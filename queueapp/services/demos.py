"""A demo's line as its operators run it: settings published, paused, resumed, cleared, and
a worker of its pool woken."""

import logging

from celery import current_app

from models_registry.models import Demo

from .. import events, frames, selectors
from ..line import LineConfig
from ..store import get_store

log = logging.getLogger(__name__)

PAUSED_NOTICE = "This demo is paused by its operators for now. Your place in line is kept."
RESUMED_NOTICE = "This demo is running again."

# The Celery task a worker runs to drain a line (queueapp/tasks.py), sent by name: the web
# side never imports the worker's code.
DRAIN_TASK = "lineup.drain_demo"


def demo_config_publish(*, demo) -> None:
    """Mirror a demo's settings to the queue; they apply to the next join or batch."""
    get_store().publish_config(demo.slug, LineConfig.from_demo(demo, **selectors.demo_lanes(demo)))


def demos_config_publish_all() -> None:
    """Publish every demo's settings again: the site's tiers, part of each, changed."""
    for demo in Demo.objects.all():
        demo_config_publish(demo=demo)


def demo_config_withdraw(*, slug: str) -> None:
    """The demo was deleted: its line takes no more jobs."""
    get_store().withdraw_config(slug)


def wake_pool(*, slug: str, pool: str) -> None:
    """Ask a worker of `pool` to drain the demo's line."""
    current_app.send_task(DRAIN_TASK, args=[slug], queue=pool)


def demo_pause(*, demo) -> None:
    """Stop starting batches of the demo; its waiting visitors keep their places and are told."""
    demo.paused = True
    demo.save(update_fields=["paused", "updated_at"])  # publishes the settings
    _tell_waiting(demo.slug, paused=True, message=PAUSED_NOTICE)
    log.info("demo %s paused", demo.slug, extra={"demo": demo.slug})


def demo_resume(*, demo) -> None:
    """Start the demo's batches again, and tell its waiting visitors."""
    demo.paused = False
    demo.save(update_fields=["paused", "updated_at"])
    _tell_waiting(demo.slug, paused=False, message=RESUMED_NOTICE)
    wake_pool(slug=demo.slug, pool=demo.worker_pool)
    log.info("demo %s resumed", demo.slug, extra={"demo": demo.slug})


def demo_clear(*, slug: str) -> int:
    """End every waiting job of the demo's line, telling each visitor; return how many."""
    error = {
        "code": "line_cleared",
        "message": "The demo's operators cleared its line. Please try again later.",
    }
    store = get_store()
    seq, cleared = store.clear(slug, error=error)
    if cleared:
        direct = [
            (channel, frames.completed(job_id, success=False, payload=error))
            for job_id, _, channel in cleared
        ]
        advanced = events.advanced_message(
            slug=slug, seq=seq, left=[ticket for _, ticket, _ in cleared], stats=store.stats(slug)
        )
        events.send_all_sync(direct, [(events.demo_group(slug), advanced)])
        store.delivered(slug, [job_id for job_id, _, _ in cleared])
    log.info("demo %s: line cleared, %d job(s)", slug, len(cleared), extra={"demo": slug})
    return len(cleared)


def _tell_waiting(slug: str, *, paused: bool, message: str) -> None:
    notice = events.notice_message(slug=slug, paused=paused, text=message)
    events.send_all_sync([], [(events.demo_group(slug), notice)])
