"""The queue's services: every way in (websocket, HTTP API, admin, tests) calls these.

Each function that changes a job's state also tells the world about it.
"""

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from functools import partial

from django.conf import settings

from models_registry.components import InvalidInput
from models_registry.registry import InferenceFunction, get_function

from . import events
from .eta import Pace, max_rank_within, pace
from .store import (
    Admission,
    Change,
    DemoStats,
    Resumed,
    VisitorLimits,
    get_async_store,
    get_store,
)
from .threads import run_in_background, run_sync

log = logging.getLogger(__name__)

# An ending still in the outbox after this long was left by a worker that died before it
# could tell the visitor; the sweeper delivers it.
UNDELIVERED_AFTER_SECONDS = 3.0


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
    seq: int
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
        raise QueueError(
            "demo_unavailable", f"The demo '{slug}' is not available right now."
        ) from None


def _eta_args(config: dict[str, str], stats: DemoStats) -> dict:
    return {
        "concurrency": int(config["concurrency"]),
        "max_batch_size": int(config["max_batch_size"]),
        "avg_run": stats.avg_run
        if stats.avg_run is not None
        else float(config["expected_seconds"]),
        "avg_batch": stats.avg_batch,
    }


def line_pace(config: dict[str, str], stats: DemoStats) -> Pace:
    """How fast the demo's line moves, from its settings and measured batches."""
    return pace(**_eta_args(config, stats))


def eta_from(config: dict[str, str], *, rank: int, stats: DemoStats) -> float:
    """Seconds until the job at `rank` starts, from the demo's settings and measured batches."""
    return line_pace(config, stats).eta(rank)


# What this process last saw of each demo's line: its settings, which every join checks
# against their version in Redis (so an admin's change applies to the next join), and its
# measured averages.
_known_lines: dict[str, tuple[dict[str, str], DemoStats]] = {}


def visitor_limits(address: str | None) -> VisitorLimits:
    """The site's limits on one visitor (settings; 0 turns one off)."""
    return VisitorLimits(
        address_active=settings.LINEUP_MAX_JOBS_PER_ADDRESS if address else None,
        owner_rate=settings.LINEUP_JOINS_PER_MINUTE_PER_VISITOR,
        address_rate=settings.LINEUP_JOINS_PER_MINUTE_PER_ADDRESS if address else None,
    )


def job_submit(
    *,
    slug: str,
    data: object,
    owner: str,
    channel: str = "",
    address: str | None = None,
    from_page: bool = True,
) -> Joined:
    """Check a visitor's inputs and put the job in the demo's line, or refuse it.

    `from_page` says the visitor came through the demo's web page (a browser session with a
    page token); anyone else is a script, which only demos with `api_open` take."""
    store = get_store()
    for _ in range(2):
        config, stats = _known_lines.get(slug) or (demo_config(slug=slug), DemoStats())
        function, inputs = _checked_inputs(config, slug, data, from_page)
        job_id = secrets.token_urlsafe(18)
        args = _join_args(job_id, owner, channel, inputs, config, stats, address)
        admission = store.join(slug, **args)
        if admission.status not in ("stale", "no_config"):
            break
        function.discard_inputs(inputs)
        _known_lines.pop(slug, None)  # read the settings again
    _known_lines[slug] = (config, admission.stats)
    if admission.status != "ok":
        function.discard_inputs(inputs)
        raise _refusal(admission, config)
    if admission.wake:
        wake_pool(slug=slug, pool=config["pool"])
    return _joined(job_id, admission, config, args["pace"])


async def job_submit_async(
    *,
    slug: str,
    data: object,
    owner: str,
    channel: str,
    address: str | None = None,
    from_page: bool = True,
) -> Joined:
    """`job_submit` for the websocket consumer: the same steps, on the event loop."""
    store = get_async_store()
    for _ in range(2):
        config, stats = _known_lines.get(slug) or (
            await _demo_config_async(store, slug),
            DemoStats(),
        )
        if demo_function(config, slug).reads_files:  # decoding files is work for a thread
            function, inputs = await run_sync(_checked_inputs)(config, slug, data, from_page)
        else:
            function, inputs = _checked_inputs(config, slug, data, from_page)
        job_id = secrets.token_urlsafe(18)
        args = _join_args(job_id, owner, channel, inputs, config, stats, address)
        admission = await store.join(slug, **args)
        if admission.status not in ("stale", "no_config"):
            break
        await _discard_inputs(function, inputs)
        _known_lines.pop(slug, None)  # read the settings again
    _known_lines[slug] = (config, admission.stats)
    if admission.status != "ok":
        await _discard_inputs(function, inputs)
        raise _refusal(admission, config)
    if admission.wake:
        # Publishing the wake-up is synchronous; the visitor need not wait for it.
        run_in_background(wake_pool, slug=slug, pool=config["pool"])
    return _joined(job_id, admission, config, args["pace"])


def _join_args(
    job_id: str,
    owner: str,
    channel: str,
    inputs: list,
    config: dict[str, str],
    stats: DemoStats,
    address: str | None,
) -> dict:
    """What a join asks the line's script, the same from both ways in."""
    return {
        "job_id": job_id,
        "owner": owner,
        "channel": channel,
        "inputs": inputs,
        "max_rank": _max_rank(config, stats),
        "version": config.get("version", "0"),
        "address": address,
        "limits": visitor_limits(address),
        "pace": line_pace(config, stats),
    }


async def _demo_config_async(store, slug: str) -> dict[str, str]:
    async def fetch() -> dict[str, str]:
        config = await store.config(slug)
        if "function" not in config:
            config = await run_sync(demo_config)(slug=slug)
        # Known from now on, also to the joins of the burst that are still on their way.
        _known_lines.setdefault(slug, (config, DemoStats()))
        return config

    return await _shared(("config", slug), fetch)


_fetching: dict[tuple, asyncio.Future] = {}


async def _shared(what: tuple, fetch):
    """`await fetch()`, one call shared by all who ask for `what` while it runs: a burst of
    visitors arriving at a cold web process asks for the same settings a thousand times."""
    what = (asyncio.get_running_loop(), *what)
    fetching = _fetching.get(what)
    if fetching is None:
        fetching = _fetching[what] = asyncio.ensure_future(fetch())
        fetching.add_done_callback(lambda _: _fetching.pop(what, None))
    return await asyncio.shield(fetching)


async def _discard_inputs(function: InferenceFunction, inputs: list) -> None:
    if function.reads_files:
        await run_sync(function.discard_inputs)(inputs)


def _checked_inputs(
    config: dict[str, str], slug: str, data: object, from_page: bool
) -> tuple[InferenceFunction, list]:
    if config.get("enabled") != "1":
        raise QueueError("demo_disabled", "This demo is switched off for now.")
    if not from_page and config.get("api_open") != "1":
        raise QueueError(
            "api_closed", "This demo takes jobs from its web page only, not from scripts."
        )
    function = demo_function(config, slug)
    try:
        return function, function.clean_inputs(data)
    except InvalidInput as error:
        raise QueueError(error.code, error.message) from None


def _max_rank(config: dict[str, str], stats: DemoStats) -> int | None:
    """The last rank a join may take under the demo's max_wait_seconds (None: no limit)."""
    if not config.get("max_wait_seconds"):
        return None
    return max_rank_within(float(config["max_wait_seconds"]), **_eta_args(config, stats))


def _joined(job_id: str, admission: Admission, config: dict[str, str], pace: Pace) -> Joined:
    eta = pace.eta(admission.rank)  # the prediction join.lua recorded: same pace, same rank
    return Joined(
        job_id=job_id,
        ticket=admission.ticket,
        rank=admission.rank,
        seq=admission.seq,
        eta=eta,
        config=config,
    )


def _refusal(admission: Admission, config: dict[str, str]) -> QueueError:
    status, detail, stats = admission.status, admission.detail, admission.stats
    if status == "full":
        # When to come back: about when the line has moved by a wave.
        retry = max(1, round(eta_from(config, rank=0, stats=stats)))
        return QueueError(
            "queue_full",
            "The line for this demo is full. Please try again in a little while.",
            queue_size=detail,
            retry_after=retry,
        )
    if status == "too_long":
        eta = round(eta_from(config, rank=detail, stats=stats))
        return QueueError(
            "wait_too_long",
            f"The wait is about {eta} s, longer than this demo allows "
            f"({config['max_wait_seconds']} s). Please try again later.",
            eta=eta,
            retry_after=max(1, eta - int(config["max_wait_seconds"])),
        )
    if status == "owner_limit":
        return QueueError(
            "too_many_jobs",
            f"You already have {detail} job(s) in this demo's line; wait for them to finish.",
        )
    if status == "address_limit":
        return QueueError(
            "too_many_jobs",
            f"There are already {detail} jobs from your network address in this demo's line; "
            "wait for them to finish.",
        )
    if status == "rate_limit":
        return QueueError(
            "rate_limited",
            f"Too many requests; please wait {detail} s before trying again.",
            retry_after=detail,
        )
    if status == "disabled":
        return QueueError("demo_disabled", "This demo is switched off for now.")
    return QueueError("demo_unavailable", "This demo is not available right now.")


def wake_pool(*, slug: str, pool: str) -> None:
    """Ask a worker of `pool` to drain the demo's line."""
    from .tasks import drain_demo

    drain_demo.apply_async(args=[slug], queue=pool)


def job_cancel(*, slug: str, job_id: str, owner: str) -> None:
    """Cancel a waiting job of `owner`; the visitors behind it move up."""
    outcome, detail, seq, channel = get_store().cancel(slug, job_id=job_id, owner=owner)
    if outcome == "unknown":
        raise QueueError("unknown_job", "There is no such job.")
    if outcome == "not_waiting":
        raise QueueError("not_waiting", f"The job is {detail} and can no longer be cancelled.")
    advanced = events.advanced_message(
        slug=slug, seq=seq, left=[int(detail)], stats=get_store().stats(slug)
    )
    # The job's own socket hears it too: it may have been cancelled from elsewhere (the API).
    cancelled = [(channel, events.ending_frame(job_id, "cancelled", None, None))]
    events.send_all_sync(cancelled, [(events.demo_group(slug), advanced)])


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands, for its owner."""

    job_id: str
    status: str
    rank: int | None = None
    eta: float | None = None
    outputs: object = None
    error: object = None
    progress: object = None
    partial: object = None


def job_status(*, slug: str, job_id: str, owner: str) -> JobStatus:
    """A job's status, rank and ETA while it waits, and outcome; only for its owner."""
    record = get_store().job(slug, job_id)
    if record is None or record.owner != owner:
        raise QueueError("unknown_job", "There is no such job, or it has expired.")
    eta = None
    if record.rank is not None:
        eta = eta_from(demo_config(slug=slug), rank=record.rank, stats=get_store().stats(slug))
    return JobStatus(
        job_id=job_id,
        status=record.status,
        rank=record.rank,
        eta=eta,
        outputs=record.outputs,
        error=record.error,
        progress=record.progress,
        partial=record.partial,
    )


# How long a web process trusts what it last saw of a pool's live workers, in seconds.
POOL_CHECK_SECONDS = 2.0
_pools_seen: dict[str, tuple[float, bool]] = {}


def _pool_seen(pool: str) -> bool | None:
    """What this process last saw of the pool's workers, if recent enough to trust."""
    seen_at, alive = _pools_seen.get(pool, (0.0, False))
    return alive if time.monotonic() - seen_at <= POOL_CHECK_SECONDS else None


def _pool_now(pool: str, alive: bool) -> bool:
    _pools_seen[pool] = (time.monotonic(), alive)
    return alive


def pool_has_worker(pool: str) -> bool:
    """Whether a live worker serves `pool` (from their heartbeats, seen at most
    POOL_CHECK_SECONDS ago)."""
    seen = _pool_seen(pool)
    return seen if seen is not None else _pool_now(pool, get_store().pool_alive(pool))


async def pool_has_worker_async(pool: str) -> bool:
    """`pool_has_worker` for the websocket consumer, on the event loop."""
    seen = _pool_seen(pool)
    if seen is not None:
        return seen
    return _pool_now(
        pool, await _shared(("pool", pool), partial(get_async_store().pool_alive, pool))
    )


NO_WORKER_NOTICE = (
    "No worker is running this demo right now. Your place in line is kept, and your job "
    "starts when one is back."
)


def demo_open_to_scripts(*, slug: str) -> dict[str, str]:
    """The demo's settings if the HTTP API may submit to it now; else the refusal."""
    config = demo_config(slug=slug)
    if config.get("api_open") != "1":
        raise QueueError("api_closed", "This demo is not open to the API; use its web page.")
    if config.get("enabled") != "1":
        raise QueueError("demo_disabled", "This demo is switched off for now.")
    if not pool_has_worker(config.get("pool", "")):
        raise QueueError(
            "no_worker",
            "No worker is running this demo right now. Please try again later.",
            retry_after=30,
        )
    return config


def api_request_allowed(*, address: str | None) -> None:
    """Count an HTTP API request from `address`; refuse it over the per-address rate."""
    limit = settings.LINEUP_API_REQUESTS_PER_MINUTE_PER_ADDRESS
    if not limit or not address:
        return
    count, left = get_store().count_request(f"api:{address}")
    if count > limit:
        raise QueueError(
            "rate_limited",
            f"Too many requests; please wait {left} s before trying again.",
            retry_after=left,
        )


PAUSED_NOTICE = "This demo is paused by its operators for now. Your place in line is kept."
RESUMED_NOTICE = "This demo is running again."


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
            (channel, events.completed_frame(job_id, success=False, payload=error))
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


def job_resume(*, slug: str, job_id: str, owner: str, channel: str) -> Resumed:
    """Send a job's further updates to `channel`; only the job's owner may do this."""
    resumed = get_store().resume(slug, job_id=job_id, owner=owner, channel=channel)
    if resumed.status == "unknown":
        raise QueueError("unknown_job", "There is no such job, or it has expired.")
    return resumed


def jobs_detach(*, slug: str, job_ids: list[str], channel: str) -> None:
    """The visitor's connection `channel` closed: the waiting jobs it still followed expire
    unless their owner comes back in time."""
    get_store().detach(
        slug, job_ids, channel=channel, grace_seconds=settings.LINEUP_RECONNECT_GRACE_SECONDS
    )


def demo_sweep(*, slug: str) -> list[Change]:
    """Recover the demo's line (dead workers, timeouts, departed visitors), tell those
    affected, and wake a worker if jobs wait while a slot is free."""
    store = get_store()
    reaped = store.reap(slug)
    direct, left, back, ended = [], [], [], []
    for change in reaped.changes:
        if change.what == "requeued":
            back.append(change.ticket)
            frame = {"msg": "requeued", "job": change.job_id, "demo": slug, "ticket": change.ticket}
        else:
            if change.what == "expired":
                left.append(change.ticket)
            ended.append(change.job_id)
            frame = events.completed_frame(change.job_id, success=False, payload=change.error)
        direct.append((change.channel, frame))
    # Endings that a worker recorded but did not live to deliver.
    for lost in store.undelivered(slug, older_than=UNDELIVERED_AFTER_SECONDS):
        if lost.job_id not in ended:
            ended.append(lost.job_id)
            frame = events.ending_frame(lost.job_id, lost.status, lost.outputs, lost.error)
            direct.append((lost.channel, frame))
    broadcasts = []
    if left or back:
        advanced = events.advanced_message(
            slug=slug, seq=reaped.seq, left=left, back=back, stats=store.stats(slug)
        )
        broadcasts.append((events.demo_group(slug), advanced))
    if direct or broadcasts:
        events.send_all_sync(direct, broadcasts)
    store.delivered(slug, ended)
    if reaped.wake:
        config = store.config(slug)
        if config.get("pool"):
            wake_pool(slug=slug, pool=config["pool"])
    for change in reaped.changes:
        log.info(
            "job %s of %s %s",
            change.job_id,
            slug,
            change.what,
            extra={"demo": slug, "job": change.job_id},
        )
    return reaped.changes
