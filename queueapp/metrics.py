"""Prometheus metrics and health checks for ops.

The numbers live in Redis (the scripts count them as jobs move), so every web process
reports the same ones and a scrape of any of them sees the whole cluster.
"""

from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from models_registry.models import Demo

from .selectors import REJECTION_REASONS
from .store import get_store
from .store.scripts import SECONDS, SIZES

# Counters of a demo's stats hash, by the event they count.
EVENTS = ("admitted", "completed", "failed", "cancelled", "expired", "timeouts", "requeued")
HISTOGRAMS = {
    "wait": ("lineup_wait_seconds", "Time from joining the line to starting.", SECONDS),
    "run": ("lineup_run_seconds", "Time a batch took to run.", SECONDS),
    "eta_error": ("lineup_eta_error_seconds", "How far a start was from its ETA.", SECONDS),
    "batch": ("lineup_batch_size", "Jobs per batch.", SIZES),
}


def _buckets(values: dict[str, float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    """Per-bucket counts as Prometheus wants them: cumulative, for every bound, and +Inf."""
    counts = {float(bucket): count for bucket, count in values.items() if bucket != "sum"}
    buckets, total = [], 0.0
    for bound in bounds:
        total += counts.get(float(bound), 0.0)
        buckets.append((f"{bound:g}", total))
    buckets.append(("+Inf", total + counts.get(float("inf"), 0.0)))
    return buckets


class LineupCollector:
    """Reads every demo's line from Redis at scrape time."""

    def collect(self) -> Iterator[Metric]:
        store = get_store()
        waiting = GaugeMetricFamily("lineup_waiting", "Jobs waiting in the line.", labels=["demo"])
        running = GaugeMetricFamily("lineup_running", "Jobs running now.", labels=["demo"])
        events = CounterMetricFamily(
            "lineup_jobs", "Jobs by what happened to them.", labels=["demo", "event"]
        )
        rejections = CounterMetricFamily(
            "lineup_rejections", "Joins refused, by reason.", labels=["demo", "reason"]
        )
        histograms = {
            name: HistogramMetricFamily(metric, text, labels=["demo"])
            for name, (metric, text, _) in HISTOGRAMS.items()
        }
        # The same by lane (a tier of visitors): jobs admitted, refused and started, their
        # waits, jobs waiting now, and the GPU seconds charged to the lane's visitors.
        lane_jobs = CounterMetricFamily(
            "lineup_lane_jobs", "Jobs by lane and event.", labels=["demo", "lane", "event"]
        )
        lane_gpu = CounterMetricFamily(
            "lineup_lane_gpu_seconds",
            "GPU seconds charged to the lane's visitors (each job its share of its batch).",
            labels=["demo", "lane"],
        )
        lane_waiting = GaugeMetricFamily(
            "lineup_lane_waiting", "Jobs waiting in the line, by lane.", labels=["demo", "lane"]
        )
        lane_waits = HistogramMetricFamily(
            "lineup_lane_wait_seconds",
            "Time from joining the line to starting, by lane.",
            labels=["demo", "lane"],
        )
        pools: set[str] = set()
        for slug in store.demos():
            counters = store.counters(slug)
            waiting.add_metric([slug], float(counters.get("waiting", 0)))
            running.add_metric([slug], float(counters.get("running", 0)))
            for event in EVENTS:
                events.add_metric([slug, event], float(counters.get(event, 0)))
            for reason in REJECTION_REASONS:
                rejections.add_metric([slug, reason], float(counters.get(f"rejected_{reason}", 0)))
            for field, value in counters.items():
                counter, _, lane = field.partition("@")
                if counter == "charged" and lane:
                    lane_gpu.add_metric([slug, lane], float(value))
                elif lane:
                    lane_jobs.add_metric([slug, lane, counter], float(value))
            for lane, count in store.lane_waiting(slug).items():
                lane_waiting.add_metric([slug, lane], float(count))
            for name, values in store.histograms(slug).items():
                name, _, lane = name.partition("@")
                buckets = _buckets(values, HISTOGRAMS[name][2])
                if lane:
                    lane_waits.add_metric([slug, lane], buckets, sum_value=values.get("sum", 0.0))
                else:
                    histograms[name].add_metric([slug], buckets, sum_value=values.get("sum", 0.0))
            config = store.config(slug)
            if config is not None:
                pools.add(config.pool)
        workers = GaugeMetricFamily(
            "lineup_live_workers", "Worker processes alive, by pool.", labels=["pool"]
        )
        for pool in sorted(pools - {""}):
            workers.add_metric([pool], len(store.live_workers(pool)))
        yield from (waiting, running, events, rejections, *histograms.values(), workers)
        yield from (lane_jobs, lane_gpu, lane_waiting, lane_waits)


_registry = CollectorRegistry(auto_describe=False)
_registry.register(LineupCollector())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape. With LINEUP_METRICS_TOKEN set, only for `Bearer <token>`."""
    token = settings.LINEUP_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not constant_time_compare(given, token):
            return HttpResponse("A metrics token is required.", status=401)
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The web process answers."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for visitors: the database and Redis answer, and every pool that has enabled
    demos has a live worker. 503 with what is missing otherwise."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"failing: {error.__class__.__name__}"
    try:
        get_store().ping()
        checks["redis"] = "ok"
    except Exception as error:
        checks["redis"] = f"failing: {error.__class__.__name__}"
    if checks["database"] == "ok" and checks["redis"] == "ok":
        pools = Demo.objects.filter(enabled=True).values_list("worker_pool", flat=True)
        for pool in sorted(set(pools)):
            alive = len(get_store().live_workers(pool))
            checks[f"pool {pool}"] = f"{alive} live worker(s)" if alive else "no live worker"
    ready = all(v == "ok" or v.endswith("live worker(s)") for v in checks.values())
    return JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)
