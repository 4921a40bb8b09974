"""Reads of the queue for people: per-demo statistics for the admin (and, later, metrics)."""

import math
from statistics import fmean
from typing import Any

from .store import get_store

REJECTION_REASONS = ("full", "too_long", "owner_limit", "address_limit", "rate_limit")


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
    }


def live_workers(pools: list[str]) -> list[dict[str, Any]]:
    """The live worker processes of these pools, each once."""
    store = get_store()
    found: dict[str, dict[str, Any]] = {}
    for pool in pools:
        for worker in store.live_workers(pool):
            found[worker["name"]] = worker
    return sorted(found.values(), key=lambda worker: worker["name"])
