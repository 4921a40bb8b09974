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
