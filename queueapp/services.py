"""The queue's services: every way in (websocket, HTTP API, admin, tests) calls these.

Each function that changes a job's state also tells the world about it.
"""

import logging
import secrets
from dataclasses import dataclass

from models_registry.components import InvalidInput
from models_registry.registry import InferenceFunction, get_function

from . import events
from .eta import rank_eta
from .store import Admission, DemoStats, Resumed, get_store

log = logging.getLogger(__name__)


class QueueError(Exception):
    """A refusal with a machine-readable code and a message for people."""

    def __init__(self, code: str, message: str, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Joined:
    job_id: str
    ticket: int
    rank: int
    eta: float
    config: dict[str, str]


def demo_config_publish(*, demo) -> None:
    """Mirror a demo's settings to the queue; they apply to the next join or batch."""
    get_store().publish_config(demo.slug, demo.queue_config())


def demo_config_withdraw(*, slug: str) -> None:
    get_store().publish_config(slug, {"enabled": "0"})


def demo_config(*, slug: str) -> dict[str, str]:
    """The queue settings of a demo, loading them from the database if Redis lost them."""
    store = get_store()
    config = store.config(slug)
    if "function" in config:
        return config
    from models_registry.models import Demo

    try:
        demo = Demo.objects.get(slug=slug)
    except Demo.DoesNotExist:
        raise QueueError("unknown_demo", f"There is no demo called '{slug}'.") from None
    demo_config_publish(demo=demo)
    return store.config(slug)


def demo_function(config: dict[str, str], slug: str) -> InferenceFunction:
    try:
        return get_function(config["function"])
    except KeyError:
        raise QueueError("demo_unavailable", f"The demo '{slug}' is not available right now.") from None


def eta_from(config: dict[str, str], *, rank: int, stats: DemoStats) -> float:
    """Seconds until the job at `rank` starts, from the demo's settings and measured batches."""
    return rank_eta(
        rank=rank,
        concurrency=int(config["concurrency"]),
        max_batch_size=int(config["max_batch_size"]),
        avg_run=stats.avg_run if stats.avg_run is not None else float(config["expected_seconds"]),
        avg_batch=stats.avg_batch,
    )


def job_submit(*, slug: str, data: object, owner: str, channel: str) -> Joined:
    """Check a visitor's inputs and put the job in the demo's line, or refuse it."""
    config = demo_config(slug=slug)
    if config.get("enabled") != "1":
        raise QueueError("demo_disabled", "This demo is switched off for now.")
    function = demo_function(config, slug)
    try:
        inputs = function.clean_inputs(data)
    except InvalidInput as error:
        raise QueueError(error.code, error.message) from None

    job_id = secrets.token_urlsafe(18)
    admission: Admission = get_store().join(slug, job_id=job_id, owner=owner, channel=channel, inputs=inputs)
    if admission.status != "ok":
        function.discard_inputs(inputs)
        if admission.status == "full":
            raise QueueError(
                "queue_full",
                "The line for this demo is full. Please try again in a little while.",
                queue_size=admission.rank,
            )
        if admission.status == "disabled":
            raise QueueError("demo_disabled", "This demo is switched off for now.")
        raise QueueError("demo_unavailable", "This demo is not available right now.")

    if admission.free_slots > 0:
        wake_pool(slug=slug, pool=config["pool"])
    eta = eta_from(config, rank=admission.rank, stats=admission.stats)
    return Joined(job_id=job_id, ticket=admission.ticket, rank=admission.rank, eta=eta, config=config)


def wake_pool(*, slug: str, pool: str) -> None:
    """Ask a worker of `pool` to drain the demo's line."""
    from .tasks import drain_demo

    drain_demo.apply_async(args=[slug], queue=pool)


def job_cancel(*, slug: str, job_id: str, owner: str) -> None:
    """Cancel a waiting job of `owner`; the visitors behind it move up."""
    outcome, detail = get_store().cancel(slug, job_id=job_id, owner=owner)
    if outcome == "unknown":
        raise QueueError("unknown_job", "There is no such job.")
    if outcome == "not_waiting":
        raise QueueError("not_waiting", f"The job is {detail} and can no longer be cancelled.")
    advanced = events.advanced_message(slug=slug, left=[int(detail)], stats=get_store().stats(slug))
    events.send_all_sync([], [(events.demo_group(slug), advanced)])


def job_resume(*, slug: str, job_id: str, owner: str, channel: str) -> Resumed:
    """Send a job's further updates to `channel`; only the job's owner may do this."""
    resumed = get_store().resume(slug, job_id=job_id, owner=owner, channel=channel)
    if resumed.status == "unknown":
        raise QueueError("unknown_job", "There is no such job, or it has expired.")
    return resumed

