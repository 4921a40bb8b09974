"""Reads of the queue: a demo's settings and function, a job's status, whether a pool has a
live worker, whose an API key is, and the statistics the admin shows."""

import math
import time
from dataclasses import dataclass
from functools import partial
from statistics import fmean
from typing import Any

from django.db.models import Q

from models_registry.models import Demo
from models_registry.registry import InferenceFunction, get_function

from .errors import QueueError
from .eta import rank_eta
from .line import DEFAULT_LANE, Lane, LineConfig, quota_day
from .models import ApiKey, DemoTier, Tier
from .store import get_async_store, get_store
from .threads import shared_call

NO_WORKER_NOTICE = (
    "No worker is running this demo right now. Your place in line is kept, and your job "
    "starts when one is back."
)


def demo_config(*, slug: str) -> LineConfig:
    """The queue settings of a demo, publishing them again from the database if Redis lost
    them."""
    store = get_store()
    config = store.config(slug)
    if config is not None:
        return config
    try:
        demo = Demo.objects.get(slug=slug)
    except Demo.DoesNotExist:
        raise QueueError("unknown_demo", f"There is no demo called '{slug}'.") from None
    store.publish_config(slug, LineConfig.from_demo(demo, **demo_lanes(demo)))
    return store.config(slug)


def demo_lanes(demo: Demo) -> dict[str, Any]:
    """The site's tiers as lanes of the demo's line, on its terms, for
    `LineConfig.from_demo`."""
    tiers = list(Tier.objects.all())
    terms = {term.tier_id: term for term in DemoTier.objects.filter(demo_id=demo.pk)}
    default = {tier.default_for: tier.slug for tier in tiers if tier.default_for}
    anonymous = default.get(Tier.ANONYMOUS, "")
    # Every lane's weight, the lane of visitors without a tier (weight 1) included.
    weights = {tier.pk: tier.weight for tier in tiers}
    total = sum(weights.values()) + (0 if anonymous else DEFAULT_LANE.weight)
    lanes = []
    for tier in tiers:
        term = terms.get(tier.pk)
        weight = tier.weight
        if term and term.min_share:
            # w / (w + others) >= share  <=>  w >= share * others / (1 - share)
            share, others = term.min_share / 100, total - tier.weight
            weight = max(weight, math.ceil(share * others / (1 - share)))
        refused = bool(term and term.refused)
        lanes.append(Lane(tier.slug, weight, tier.max_active_jobs, tier.daily_gpu_seconds, refused))
    return {
        "lanes": tuple(lanes),
        "anonymous_lane": anonymous,
        "signed_in_lane": default.get(Tier.SIGNED_IN, ""),
    }


def user_lane(*, user_id: int, config: LineConfig) -> Lane:
    """The lane of a signed-in user: the heaviest of their tiers and their groups' tiers
    that the demo does not refuse; without one, the lane of signed-in users."""
    lanes = [config.lane(slug) for slug in _given_tiers(user_id).values_list("slug", flat=True)]
    allowed = [lane for lane in lanes if not lane.refused]
    return (allowed or lanes or [config.lane(config.signed_in_lane)])[0]


def _given_tiers(user_id: int):
    """The tiers given to the user or to their groups, heaviest first."""
    given = Q(users=user_id) | Q(groups__user=user_id)
    return Tier.objects.filter(given).order_by("-weight", "pk")


@dataclass(frozen=True)
class QuotaStatus:
    """A signed-in user's tier, and their GPU time today (seconds; `daily` None: no quota)."""

    tier: str
    daily: float | None
    used: float

    @property
    def left(self) -> float | None:
        return None if self.daily is None else max(self.daily - self.used, 0.0)


def user_quota(*, user_id: int, owner: str) -> QuotaStatus | None:
    """What a signed-in user's tier allows them today, and what their jobs (`owner`) used;
    None where the site has no tier for them."""
    fallback = Q(default_for=Tier.SIGNED_IN) | Q(default_for=Tier.ANONYMOUS)
    # The tier for signed-in users before the one for everyone ("signed_in" > "anonymous").
    tier = (
        _given_tiers(user_id).first()
        or Tier.objects.filter(fallback).order_by("-default_for").first()
    )
    if tier is None:
        return None
    used = get_store().usage(owner, quota_day(time.time()))
    return QuotaStatus(tier=tier.name, daily=tier.daily_gpu_seconds, used=sum(used.values()))


def api_key_user(*, raw: str) -> int | None:
    """The id of the active user whose key `raw` is; None for a key unknown or revoked."""
    if not raw.startswith(ApiKey.PREFIX) or len(raw) > 100:
        return None
    key = ApiKey.objects.filter(digest=ApiKey.digest_of(raw), user__is_active=True).first()
    return key.user_id if key else None


def demo_function(config: LineConfig, slug: str) -> InferenceFunction:
    try:
        return get_function(config.function)
    except KeyError:
        raise QueueError(
            "demo_unavailable", f"The demo '{slug}' is not available right now."
        ) from None


def demo_open_to_scripts(*, slug: str) -> LineConfig:
    """The demo's settings if the HTTP API may submit to it now; else the refusal."""
    config = demo_config(slug=slug)
    if not config.api_open:
        raise QueueError("api_closed", "This demo is not open to the API; use its web page.")
    if not config.enabled:
        raise QueueError("demo_disabled", "This demo is switched off for now.")
    if not pool_has_worker(config.pool):
        raise QueueError(
            "no_worker",
            "No worker is running this demo right now. Please try again later.",
            retry_after=30,
        )
    return config


def queue_size(*, slug: str) -> int:
    """How many jobs wait in the demo's line."""
    return get_store().queue_size(slug)


def line_now(*, slug: str) -> dict[str, Any]:
    """The demo's line as a newcomer would find it: jobs waiting, the wait for the next
    one, and whether a worker serves it."""
    config = demo_config(slug=slug)
    store = get_store()
    waiting = store.queue_size(slug)
    return {
        "waiting": waiting,
        "eta": round(rank_eta(config, store.stats(slug), waiting), 2),
        "has_worker": pool_has_worker(config.pool),
    }


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
    store = get_store()
    record = store.job(slug, job_id)
    if record is None or record.owner != owner:
        raise QueueError("unknown_job", "There is no such job, or it has expired.")
    eta = None
    if record.rank is not None:
        eta = rank_eta(demo_config(slug=slug), store.stats(slug), record.rank)
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
    alive = await shared_call(("pool", pool), partial(get_async_store().pool_alive, pool))
    return _pool_now(pool, alive)


REJECTION_REASONS = ("full", "too_long", "owner_limit", "address_limit", "rate_limit", "quota")


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "mean": fmean(values) if values else None,
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
    }


def demo_stats(*, slug: str) -> dict[str, Any]:
    """Counts, run times by batch size, waits, rejections and ETA error of a demo's line.

    Run times, waits and ETA errors are over the most recent batches and jobs (the last
    500 batches of each size, the last 1,000 jobs)."""
    store = get_store()
    counters = {
        name: int(float(value))
        for name, value in store.counters(slug).items()
        if not name.startswith("avg_")
    }
    samples = store.samples(slug)
    batches = counters.get("batches", 0)
    runs = {
        int(name.split(":")[1]): _summary(values)
        for name, values in samples.items()
        if name.startswith("runs:")
    }
    eta_errors = samples["eta_errors"]
    return {
        "waiting": counters.get("waiting", 0),
        "running": counters.get("running", 0),
        "admitted": counters.get("admitted", 0),
        "batches": batches,
        "jobs_run": counters.get("jobs", 0),
        "mean_batch_size": counters.get("jobs", 0) / batches if batches else None,
        "completed": counters.get("completed", 0),
        "failed": counters.get("failed", 0),
        "cancelled": counters.get("cancelled", 0),
        "expired": counters.get("expired", 0),
        "timeouts": counters.get("timeouts", 0),
        "requeued": counters.get("requeued", 0),
        "rejected": {reason: counters.get(f"rejected_{reason}", 0) for reason in REJECTION_REASONS},
        "run_seconds_by_batch_size": dict(sorted(runs.items())),
        "wait_seconds": _summary(samples["waits"]),
        # Positive: the job started later than predicted.
        "eta_error_seconds": _summary(eta_errors)
        | {
            "mean_abs": fmean(map(abs, eta_errors)) if eta_errors else None,
            "p50_abs": percentile([abs(e) for e in eta_errors], 0.5),
        },
    }


# The dashboard's charts: the last hour, a bar per minute.
CHART_MINUTES = 60
CHART_WIDTH, CHART_HEIGHT = 360, 64


def bars(values: list[float]) -> dict[str, Any]:
    """An SVG bar chart's geometry: one bar per value, scaled to the largest."""
    top = max(values, default=0) or 1
    width = CHART_WIDTH / max(len(values), 1)
    return {
        "top": max(values, default=0),
        "bars": [
            {
                "x": round(i * width, 1),
                "width": round(max(width - 1, 1), 1),
                "height": round(CHART_HEIGHT * value / top, 1),
                "y": round(CHART_HEIGHT - CHART_HEIGHT * value / top, 1),
                "value": round(value, 3),
            }
            for i, value in enumerate(values)
        ],
    }


def demo_dashboard(*, demo) -> dict[str, Any]:
    """One demo's live numbers and its last hour, for the admin dashboard."""
    store = get_store()
    stats = demo_stats(slug=demo.slug)
    minutes = [counters for _, counters in store.minutes(demo.slug, CHART_MINUTES)]
    ended = [m.get("completed", 0) + m.get("failed", 0) for m in minutes]
    mean_waits = [m.get("wait_sum", 0) / m["started"] if m.get("started") else 0 for m in minutes]
    runs = [
        seconds
        for name, values in store.samples(demo.slug).items()
        if name.startswith("runs:")
        for seconds in values
    ]
    mean_batch = stats["mean_batch_size"]
    return {
        "demo": demo,
        "stats": stats,
        "throughput_per_minute": sum(ended[-5:]) / 5,
        "wait_p50": stats["wait_seconds"]["p50"],
        "wait_p95": stats["wait_seconds"]["p95"],
        "run_p50": percentile(runs, 0.5),
        "run_p95": percentile(runs, 0.95),
        "batch_fill": mean_batch / demo.max_batch_size if mean_batch and demo.batch else None,
        "rejected": sum(stats["rejected"].values()),
        "in_line": stats["waiting"] + stats["running"],
        "ended_this_hour": sum(ended),
        "charts": {
            "Jobs ended a minute": bars(ended),
            "Refused a minute": bars([m.get("rejected", 0) for m in minutes]),
            "Mean wait (s)": bars(mean_waits),
        },
        "lanes": _lanes_dashboard(demo.slug, minutes[-5:]),
    }


def _lanes_dashboard(slug: str, last_minutes: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Each lane of the line that has seen a job: waiting now, started a minute (the last
    five), mean wait, and the GPU seconds charged to its visitors."""
    store = get_store()
    counters = store.counters(slug)
    histograms = store.histograms(slug)
    waiting = store.lane_waiting(slug)
    names = sorted({f.partition("@")[2] for f in counters if "@" in f} | set(waiting))
    lanes = []
    for name in names:
        waits = histograms.get(f"wait@{name}", {})
        count = sum(value for bucket, value in waits.items() if bucket != "sum")
        lanes.append(
            {
                "name": name,
                "waiting": waiting.get(name, 0),
                "started_per_minute": sum(m.get(f"started@{name}", 0) for m in last_minutes) / 5,
                "mean_wait": waits["sum"] / count if count else None,
                "gpu_seconds": float(counters.get(f"charged@{name}", 0)),
            }
        )
    return lanes


def live_workers(pools: list[str]) -> list[dict[str, Any]]:
    """The live worker processes of these pools, each once."""
    store = get_store()
    found: dict[str, dict[str, Any]] = {}
    for pool in pools:
        for worker in store.live_workers(pool):
            found[worker["name"]] = worker
    return sorted(found.values(), key=lambda worker: worker["name"])
