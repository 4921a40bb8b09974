"""A visitor's jobs: admission to a demo's line, cancelling, resuming and detaching.

One admission path for every way in (the websocket, the HTTP API, tests): `job_submit`, on
the event loop of the web process.
"""

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from models_registry.components import InvalidInput
from models_registry.registry import InferenceFunction

from .. import access, events, frames, selectors
from ..errors import QueueError
from ..eta import Pace, job_seconds, line_pace, max_rank, rank_eta
from ..line import (
    DAY_SECONDS,
    DemoStats,
    Lane,
    LineConfig,
    QuotaCheck,
    VisitorLimits,
    quota_day,
)
from ..store import Admission, Resumed, get_async_store, get_store
from ..threads import run_in_background, run_sync, shared_call
from .demos import wake_pool


@dataclass(frozen=True)
class Joined:
    job_id: str
    ticket: int
    rank: int
    seq: int
    eta: float
    config: LineConfig
    room: int = 0  # how many jobs other lanes may still place ahead of it
    rate: float = 0.0  # how fast those lanes send jobs (joins a second)


# What this process last saw of each demo's line: its settings, which every join checks
# against their version in Redis (so an admin's change applies to the next join), and its
# measured averages.
_known_lines: dict[str, tuple[LineConfig, DemoStats]] = {}
# Signed-in users' lanes, by (demo, version of its settings, user id); forgotten wholesale
# when this many are kept.
_user_lanes: dict[tuple[str, int, int], Lane] = {}
USER_LANES_KEPT = 10_000


def visitor_limits(address: str | None) -> VisitorLimits:
    """The site's limits on one visitor (settings; 0 turns one off)."""
    return VisitorLimits(
        address_active=settings.LINEUP_MAX_JOBS_PER_ADDRESS if address else None,
        owner_rate=settings.LINEUP_JOINS_PER_MINUTE_PER_VISITOR,
        address_rate=settings.LINEUP_JOINS_PER_MINUTE_PER_ADDRESS if address else None,
    )


async def job_submit(
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
    store = get_async_store()
    for attempt in range(2):
        config, stats = _known_lines.get(slug) or (await line_config(slug), DemoStats())
        function = _function_for(config, slug, from_page)
        lane = await _lane(slug, config, owner)
        if lane.refused and attempt == 0:
            _known_lines.pop(slug, None)  # refused on the settings as they are now only
            continue
        if lane.refused:
            raise QueueError("tier_not_allowed", "This demo is not open to visitors of your tier.")
        quota = None
        if lane.daily_seconds is not None:
            quota = await _quota_check(slug, owner, lane, job_seconds(config, stats))
        if function.heavy_check:  # decoding files, reading big tables: work for a thread
            inputs = await run_sync(_clean_inputs)(function, data)
        else:
            inputs = _clean_inputs(function, data)
        job_id = secrets.token_urlsafe(18)
        pace = line_pace(config, stats)
        admission = await store.join(
            slug,
            job_id=job_id,
            owner=owner,
            channel=channel,
            inputs=inputs,
            max_rank=max_rank(config, stats),
            version=config.version,
            address=address,
            limits=visitor_limits(address),
            pace=pace,
            lane=lane,
            quota=quota,
            several_lanes=bool(config.lanes),
        )
        if admission.status not in ("stale", "no_config"):
            break
        await _discard_inputs(function, inputs)
        _known_lines.pop(slug, None)  # read the settings again
        _user_lanes.clear()  # and who has which tier, should the versions have started over
    _known_lines[slug] = (config, admission.stats)
    if admission.status != "ok":
        await _discard_inputs(function, inputs)
        raise _refusal(admission, config)
    if admission.wake:
        # Publishing the wake-up is synchronous; the visitor need not wait for it.
        run_in_background(wake_pool, slug=slug, pool=config.pool)
    if admission.ahead:
        # A heavier lane's job went ahead of waiting ones: they move back, and are told why.
        moved = events.advanced_message(
            slug=slug,
            seq=admission.seq,
            left=[],
            back=[admission.ticket],
            stats=admission.stats,
            why="priority",
        )
        await events.send_all([], [(events.demo_group(slug), moved)])
    return _joined(job_id, admission, config, pace)


async def _lane(slug: str, config: LineConfig, owner: str) -> Lane:
    """The lane of the owner's jobs: their tier's. Only a signed-in user's needs a database
    read, where the site has tiers, once per version of the line's settings: who has which
    tier is part of them (signals.py publishes them anew when it changes)."""
    user_id = access.owner_user(owner)
    if user_id is None or not config.lanes:
        return config.lane(config.anonymous_lane)
    known = (slug, config.version, user_id)
    if known not in _user_lanes:
        lane = await run_sync(selectors.user_lane)(user_id=user_id, config=config)
        if len(_user_lanes) >= USER_LANES_KEPT:
            _user_lanes.clear()
        _user_lanes[known] = lane
    return _user_lanes[known]


async def _quota_check(slug: str, owner: str, lane: Lane, seconds: float) -> QuotaCheck:
    """What join.lua checks of the owner's quota: the lane's daily seconds, less what the
    owner used today in other lines and what their jobs still in them will use (this line's
    it counts itself, in the same step)."""
    day = quota_day(time.time())
    elsewhere = 0.0
    for line in await get_async_store().owner_lines(owner, day):
        if line.slug != slug:
            elsewhere += line.used
            if line.config is not None:
                elsewhere += line.active * job_seconds(line.config, line.stats)
    return QuotaCheck(day=day, budget=lane.daily_seconds - elsewhere, job_seconds=seconds)


async def line_config(slug: str) -> LineConfig:
    """The demo's settings as this process knows them (`unknown_demo` if it is none)."""
    known = _known_lines.get(slug)
    if known:
        return known[0]

    async def fetch() -> LineConfig:
        config = await get_async_store().config(slug)
        if config is None:
            config = await run_sync(selectors.demo_config)(slug=slug)
        # Known from now on, also to the joins of the burst that are still on their way.
        _known_lines.setdefault(slug, (config, DemoStats()))
        return config

    return await shared_call(("config", slug), fetch)


async def _discard_inputs(function: InferenceFunction, inputs: list) -> None:
    if function.heavy_check:
        await run_sync(function.discard_inputs)(inputs)


def _function_for(config: LineConfig, slug: str, from_page: bool) -> InferenceFunction:
    """The demo's function, if the demo takes jobs from this visitor now."""
    if not config.enabled:
        raise QueueError("demo_disabled", "This demo is switched off for now.")
    if not from_page and not config.api_open:
        raise QueueError(
            "api_closed", "This demo takes jobs from its web page only, not from scripts."
        )
    return selectors.demo_function(config, slug)


def _clean_inputs(function: InferenceFunction, data: object) -> list:
    try:
        return function.clean_inputs(data)
    except InvalidInput as error:
        raise QueueError(error.code, error.message) from None


def _joined(job_id: str, admission: Admission, config: LineConfig, pace: Pace) -> Joined:
    return Joined(
        job_id=job_id,
        ticket=admission.ticket,
        rank=admission.rank,
        seq=admission.seq,
        eta=admission.eta if admission.eta is not None else pace.eta(admission.rank),
        config=config,
        room=admission.room,
        rate=admission.rate,
    )


def _refusal(admission: Admission, config: LineConfig) -> QueueError:
    status, detail, stats = admission.status, admission.detail, admission.stats
    if status == "full":
        # When to come back: about when the line has moved by a wave.
        retry = max(1, round(rank_eta(config, stats, 0)))
        return QueueError(
            "queue_full",
            "The line for this demo is full. Please try again in a little while.",
            queue_size=detail,
            retry_after=retry,
        )
    if status == "too_long":
        eta = round(rank_eta(config, stats, detail))
        return QueueError(
            "wait_too_long",
            f"The wait is about {eta} s, longer than this demo allows "
            f"({config.max_wait_seconds} s). Please try again later.",
            eta=eta,
            retry_after=max(1, eta - (config.max_wait_seconds or 0)),
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
    if status == "quota":
        return quota_exhausted(detail, job_seconds(config, stats))
    if status == "disabled":
        return QueueError("demo_disabled", "This demo is switched off for now.")
    return QueueError("demo_unavailable", "This demo is not available right now.")


def quota_exhausted(left: float, needs: float) -> QueueError:
    """The refusal of a job its owner's GPU time for today cannot cover."""
    now = time.time()
    resets = (quota_day(now) + 1) * DAY_SECONDS
    resets_at = datetime.fromtimestamp(resets, UTC).isoformat(timespec="seconds")
    wait = int(resets - now)
    return QueueError(
        "quota_exhausted",
        f"Your GPU time for today is used up: {left:.0f} s left, and a job of this demo takes "
        f"about {needs:.0f} s. It renews at midnight UTC, in {wait // 3600} h "
        f"{wait % 3600 // 60} min.",
        seconds_left=left,
        resets_at=resets_at,
        retry_after=wait,
    )


def job_cancel(*, slug: str, job_id: str, owner: str) -> None:
    """Cancel a waiting job of `owner`; the visitors behind it move up."""
    store = get_store()
    outcome, detail, seq, channel = store.cancel(slug, job_id=job_id, owner=owner)
    if outcome == "unknown":
        raise QueueError("unknown_job", "There is no such job.")
    if outcome == "not_waiting":
        raise QueueError("not_waiting", f"The job is {detail} and can no longer be cancelled.")
    advanced = events.advanced_message(
        slug=slug, seq=seq, left=[int(detail)], stats=store.stats(slug)
    )
    # The job's own socket hears it too: it may have been cancelled from elsewhere (the API).
    events.send_all_sync(
        [(channel, frames.cancelled(job_id))], [(events.demo_group(slug), advanced)]
    )
    store.delivered(slug, [job_id])


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
