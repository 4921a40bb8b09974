"""`make bench`: the workloads of the bar (docs/performance.md) against a real stack.

Starts one private Redis, and for each run of each workload a fresh daphne and the Celery
workers it needs, all on 127.0.0.1; runs each workload several times and prints medians, with
the CPU time each component spent per request. Every client opens its socket inside the
measured window, and nothing warms the server up before it.

Each workload has a reference measured in the same run: Gradio 6.31 for W1-W3 (G1-G3, from
the virtualenv `make bench` makes), a bare ASGI app (bench/bare_app.py) under the same daphne
command for the arrivals W4, W5 and W7 (R1000, R200, R10000), and the bare model for W6.
W3w is W3 with a batch wait, which Gradio does not have: it is reported beside W3.

    python -m bench.run [--runs 3] [--only G1,W1,R1000,W4]
"""

import argparse
import asyncio
import atexit
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_site import embedded_redis, processes  # noqa: E402

# Ten thousand sockets on each side of W7: as many open files as this process may have, for it
# and the servers it starts.
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

FOLDER = Path(tempfile.mkdtemp(prefix="lineup-bench-"))
REDIS_PORT = embedded_redis.free_port()
REDIS_PROCESS = embedded_redis.start(REDIS_PORT, FOLDER / "redis")
atexit.register(REDIS_PROCESS.terminate)  # however the bench ends, `--help` included
os.environ.update(
    {
        "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "LINEUP_VAR_DIR": str(FOLDER),
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "LOG_LEVEL": "WARNING",
        # Every simulated visitor comes from this one address, at rates no person reaches.
        "LINEUP_MAX_JOBS_PER_ADDRESS": "0",
        "LINEUP_JOINS_PER_MINUTE_PER_ADDRESS": "0",
        "LINEUP_JOINS_PER_MINUTE_PER_VISITOR": "0",
        "LINEUP_API_REQUESTS_PER_MINUTE_PER_ADDRESS": "0",
    }
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.gradio_loadgen import GradioClient, fn_indexes  # noqa: E402
from bench.loadgen import Arrival, Call, Client, LaneVisitor, burst_of_arrivals  # noqa: E402
from models_registry.models import Demo  # noqa: E402
from models_registry.registry import get_function  # noqa: E402
from queueapp.line import LineConfig  # noqa: E402
from queueapp.selectors import demo_stats, percentile  # noqa: E402
from queueapp.store import get_store, job_key  # noqa: E402

ORIGIN_HOST = "127.0.0.1"
LINEUP_APP = "demo_site.asgi:application"
BARE_APP = "bench.bare_app:application"


@dataclass
class Stack:
    """daphne and Celery workers for one workload, on the bench's Redis."""

    workers: list[tuple[str, int]]
    web_processes: int = 1
    app: str = LINEUP_APP
    port: int = 0
    web: list[subprocess.Popen] = field(default_factory=list)
    children: list[subprocess.Popen] = field(default_factory=list)

    def __enter__(self) -> "Stack":
        env = {k: os.environ[k] for k in ("REDIS_URL", "LINEUP_VAR_DIR", "LOG_LEVEL")}
        self.port = embedded_redis.free_port()
        log = open(FOLDER / "stack.log", "a")
        self.web = processes.start_web(
            port=self.port,
            count=self.web_processes,
            app=self.app,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        self.children += self.web
        for pool, threads in self.workers:
            command = processes.worker_command(
                pools=[pool], concurrency=threads, name=f"bench-{pool}", loglevel="WARNING"
            )
            self.children.append(
                processes.start(command, env=env, cwd=ROOT, stdout=log, stderr=log)
            )
        # The shared socket takes connections before the processes have loaded the app.
        processes.wait_until_serving(self.port, process=self.web[0])
        self.wait_for_workers()
        wait_until_quiet(self.children)  # started, and the workers' models loaded
        return self

    def wait_for_workers(self, timeout: float = 60) -> None:
        """Until every worker has announced itself (it has loaded its models)."""
        deadline = time.monotonic() + timeout
        store = get_store()
        while not all(store.pool_alive(pool) for pool, _ in self.workers):
            if time.monotonic() > deadline:
                raise TimeoutError("the bench's workers did not start")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        for child in self.children:
            processes.stop(child)
        # The next run starts from an empty Redis: no lines, jobs or wake-ups left over for
        # its workers to drain (W4 leaves hundreds of waiting jobs behind).
        get_store().redis.flushall()

    @property
    def url(self) -> str:
        return f"ws://{ORIGIN_HOST}:{self.port}/ws/queue/"

    @property
    def origin(self) -> str:
        return f"http://{ORIGIN_HOST}:{self.port}"

    def cpu_seconds(self) -> dict[str, float]:
        return {
            "redis": cpu_of([REDIS_PROCESS]),
            "web": cpu_of(self.web),
            "workers": cpu_of(self.children[len(self.web) :]),
            "loadgen": cpu_of([psutil.Process()]),
        }

    def web_rss(self) -> int:
        return sum(psutil.Process(p.pid).memory_info().rss for p in self.web)


GRADIO_PYTHON = Path(os.environ.get("LINEUP_BENCH_GRADIO_PYTHON", ROOT / ".venv-gradio/bin/python"))


@dataclass
class GradioStack:
    """A fresh Gradio server (bench/gradio_app.py) for one run of a reference workload."""

    concurrency: int
    port: int = 0
    server: subprocess.Popen | None = None
    fn: dict[str, int] = field(default_factory=dict)

    def __enter__(self) -> "GradioStack":
        self.port = embedded_redis.free_port()
        log = open(FOLDER / "gradio.log", "a")
        command = [str(GRADIO_PYTHON), "bench/gradio_app.py", str(self.port), str(self.concurrency)]
        env = {"GRADIO_ANALYTICS_ENABLED": "False"}
        self.server = processes.start(command, env=env, cwd=ROOT, stdout=log, stderr=log)
        processes.wait_until_serving(self.port, path="/config", process=self.server)
        self.fn = asyncio.run(fn_indexes(self.base_url))
        wait_until_quiet([self.server])
        return self

    def __exit__(self, *exc) -> None:
        processes.stop(self.server)

    @property
    def base_url(self) -> str:
        return f"http://{ORIGIN_HOST}:{self.port}"

    def cpu_seconds(self) -> dict[str, float]:
        return {
            "redis": 0.0,
            "web": cpu_of([self.server]),
            "workers": 0.0,
            "loadgen": cpu_of([psutil.Process()]),
        }


def cpu_of(processes: list) -> float:
    return sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in processes)


def wait_until_quiet(children: list, quiet: float = 0.5, timeout: float = 60) -> None:
    """Until the processes have finished starting: their CPU time has all but stopped
    growing (a server's idle timers take a little)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        now = [cpu_of([child]) for child in children]
        if last and all(b - a < 0.05 * quiet for a, b in zip(last, now)):
            return
        last = now
        time.sleep(quiet)
    raise TimeoutError("the servers kept busy after starting")


def publish(slug: str, **fields) -> None:
    values = {"slug": slug, "title": slug, "max_jobs_per_visitor": None} | fields
    get_store().publish_config(slug, LineConfig.from_demo(Demo(**values)))


def quantile_ms(values: list[float], fraction: float) -> float:
    return 1000 * percentile(values, fraction)


# --- workloads: each returns (requests, metrics) ------------------------------------------


async def w1(stack: Stack, slug: str) -> tuple[int, dict]:
    publish(slug, function="identity_text", expected_seconds=0.002, worker_pool="bench")
    client = await Client.connect(stack.url, stack.origin)
    calls = [await client.call(slug, ["hello"]) for _ in range(200)]
    calls[0].round_trip += client.opened  # the visitor's clock starts at connecting
    await client.close()
    trips = [c.round_trip for c in calls if c.outcome == "completed"]
    assert len(trips) == 200, "some W1 calls failed"
    return 200, {"p50 ms": quantile_ms(trips, 0.5), "p99 ms": quantile_ms(trips, 0.99)}


async def many_clients_calling(
    stack: Stack, slug: str, clients: int, calls: int, data: list
) -> tuple[float, list[Call]]:
    """Every client connects and makes its calls one after another, all at the same time; the
    clock starts before the first connect."""

    async def visitor() -> tuple[Client, list[Call]]:
        client = await Client.connect(stack.url, stack.origin)
        made = [await client.call(slug, data) for _ in range(calls)]
        made[0].round_trip += client.opened
        return client, made

    return await visitors_at_once(visitor, clients)


async def visitors_at_once(visitor, clients: int) -> tuple[float, list[Call]]:
    """Run `clients` visitors at the same time (each `visitor()` returns its client and its
    calls); the seconds they took together, and every call, which must all have completed."""
    started = time.perf_counter()
    results = await asyncio.gather(*(visitor() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(client.close() for client, _ in results))
    flat = [call for _, made in results for call in made]
    assert all(c.outcome == "completed" for c in flat), "some calls failed"
    return elapsed, flat


async def w2(stack: Stack, slug: str) -> tuple[int, dict]:
    publish(
        slug,
        function="identity_text",
        concurrency_count=4,
        expected_seconds=0.002,
        worker_pool="bench",
    )
    elapsed, calls = await many_clients_calling(stack, slug, 100, 10, ["hello"])
    stats = demo_stats(slug=slug)
    return len(calls), {
        "req/s": len(calls) / elapsed,
        "p50 ms": quantile_ms([c.round_trip for c in calls], 0.5),
        "mean batch": stats["mean_batch_size"],
        "ETA error p50 ms": 1000 * stats["eta_error_seconds"]["p50_abs"],
    }


W3_IDEAL = 16 / (0.050 + 0.016)  # sleepy_batch: 50 ms + 1 ms per item, 16 per batch
# W3w: the batch wait an admin of a batched demo would set, here up to 50 ms for a full batch.
W3W_BATCH_WAIT_MS = 50


def batched_line(batch_wait_ms: int):
    """W3, with a partial batch waiting up to `batch_wait_ms` for more jobs (0: Gradio's way,
    a batch takes what is waiting)."""

    async def w3(stack: Stack, slug: str) -> tuple[int, dict]:
        publish(
            slug,
            function="sleepy_batch",
            batch=True,
            max_batch_size=16,
            batch_wait_ms=batch_wait_ms,
            expected_seconds=0.066,
            worker_pool="bench",
        )
        began = redis_clock()
        elapsed, calls = await many_clients_calling(stack, slug, 64, 5, ["hello"])
        stats = demo_stats(slug=slug)
        throughput = len(calls) / elapsed
        return len(calls), {
            "req/s": throughput,
            "share of ideal %": 100 * throughput / W3_IDEAL,
            "mean batch": stats["mean_batch_size"],
            "ETA error p50 ms": 1000 * stats["eta_error_seconds"]["p50_abs"],
            **batch_timeline(slug, [call.job for call in calls], began),
        }

    return w3


def redis_clock() -> float:
    seconds, microseconds = get_store().redis.time()
    return seconds + microseconds / 1e6


def batch_timeline(slug: str, job_ids: list[str], began: float) -> dict:
    """Where a batched line's time went, on Redis's clock from `began` (just before the first
    connect): when the first batch started, each batch's run (from its take to its ending
    recorded) and the gap from one batch's ending to the next one's start."""
    times = job_times(slug, job_ids, "started", "finished")
    # A batch's jobs share their start and their ending's time (each is one script's clock).
    batches = sorted(Counter((started, finished) for started, finished in times).items())
    gaps = [start - batches[i][0][1] for i, ((start, _), _) in enumerate(batches[1:])]
    return {
        "first batch at ms": 1000 * (batches[0][0][0] - began),
        "first batch jobs": batches[0][1],
        "batch run p50 ms": quantile_ms([end - start for (start, end), _ in batches], 0.5),
        "gap between batches p50 ms": quantile_ms(gaps, 0.5),
    }


async def gradio_calls(
    stack: GradioStack, api_name: str, clients: int, calls: int
) -> tuple[float, list[Call]]:
    """`many_clients_calling` against Gradio: each client's clock starts at its first byte."""

    async def visitor() -> tuple[GradioClient, list[Call]]:
        client = GradioClient(stack.base_url)
        return client, [await client.call(stack.fn[api_name], ["hello"]) for _ in range(calls)]

    return await visitors_at_once(visitor, clients)


async def g1(stack: GradioStack, slug: str) -> tuple[int, dict]:
    _, calls = await gradio_calls(stack, "identity", 1, 200)
    trips = [c.round_trip for c in calls]
    return 200, {"p50 ms": quantile_ms(trips, 0.5), "p99 ms": quantile_ms(trips, 0.99)}


async def g2(stack: GradioStack, slug: str) -> tuple[int, dict]:
    elapsed, calls = await gradio_calls(stack, "identity", 100, 10)
    return len(calls), {
        "req/s": len(calls) / elapsed,
        "p50 ms": quantile_ms([c.round_trip for c in calls], 0.5),
    }


async def g3(stack: GradioStack, slug: str) -> tuple[int, dict]:
    elapsed, calls = await gradio_calls(stack, "batch", 64, 5)
    throughput = len(calls) / elapsed
    return len(calls), {"req/s": throughput, "share of ideal %": 100 * throughput / W3_IDEAL}


def prepare_w8(slug: str) -> None:
    """W2's demo, in the database too: Gradio's routes read the demo from there."""
    call_command("migrate", verbosity=0)
    Demo.objects.create(
        slug=slug,
        title=slug,
        function="identity_text",
        concurrency_count=4,
        expected_seconds=0.002,
        worker_pool="bench",
        max_jobs_per_visitor=None,
    )


async def w8(stack: Stack, slug: str) -> tuple[int, dict]:
    """W2 through Gradio's protocol (join, then the session's event stream) against Lineup."""

    async def visitor() -> tuple[GradioClient, list[Call]]:
        client = GradioClient(f"{stack.origin}/demos/{slug}/")
        return client, [await client.call(0, ["hello"]) for _ in range(10)]

    elapsed, calls = await visitors_at_once(visitor, 100)
    return len(calls), {
        "req/s": len(calls) / elapsed,
        "p50 ms": quantile_ms([c.round_trip for c in calls], 0.5),
    }


W6_DATA = [
    "A cat sits on the mat",
    "A kitten rests on a rug\nStock markets fell sharply\nThe dog sleeps outside\n"
    "Cats like warm places\nRain is expected tomorrow",
]


W6_LINES = {"batched": 32, "unbatched": 1}  # max_batch_size


def prepare_w6(slug: str) -> None:
    for name, size in W6_LINES.items():
        publish(
            f"{slug}-{name}",
            function="sentence_similarity",
            batch=True,
            max_batch_size=size,
            expected_seconds=0.05,
            worker_pool="bench",
        )


async def w6(stack: Stack, slug: str) -> tuple[int, dict]:
    """The real model through the queue, batched and one job at a time, each against the
    bare model doing the same jobs in batches of the same size, in this process."""
    results = {}
    for name in W6_LINES:
        line = f"{slug}-{name}"
        elapsed, calls = await many_clients_calling(stack, line, 64, 4, W6_DATA)
        mean_batch = demo_stats(slug=line)["mean_batch_size"]
        bare = await asyncio.to_thread(bare_model_rate, len(calls), max(1, round(mean_batch)))
        results[name] = (len(calls) / elapsed, mean_batch, bare)
    (batched, mean_batch, bare_batched), (unbatched, _, bare_unbatched) = results.values()
    return 2 * 64 * 4, {
        "batched req/s": batched,
        "bare batched req/s": bare_batched,
        "queued ÷ bare": batched / bare_batched,
        "unbatched req/s": unbatched,
        "unbatched queued ÷ bare": unbatched / bare_unbatched,
        "speed-up x": batched / unbatched,
        "bare speed-up x": bare_batched / bare_unbatched,
        "mean batch": mean_batch,
    }


def bare_model_rate(jobs: int, batch_size: int) -> float:
    """Jobs a second of the bare model function on W6's jobs in batches of `batch_size`
    (the model is loaded first, outside the clock)."""
    function = get_function("sentence_similarity")
    function.warm_up()
    started = time.perf_counter()
    for start in range(0, jobs, batch_size):
        size = min(batch_size, jobs - start)
        function.func(*([value] * size for value in W6_DATA))
    return jobs / (time.perf_counter() - started)


# W9: lanes with weights 4 and 1 on one saturated line (concurrency 1, batches of 4 of
# sleepy_batch: about 74 jobs a second), 3,000 jobs arriving over 10 s, 3:1 from the lighter
# lane, each lane's jobs spread over sockets of its own. The heavier lane's scripts show an
# API key of a user in a tier of weight 4; the lighter lane is visitors without a tier.
W9_JOBS = {"light": 2250, "heavy": 750}
W9_SOCKETS = {"light": 15, "heavy": 5}
W9_WEIGHTS = {"light": 1, "heavy": 4}
W9_ARRIVAL_SECONDS = 10.0
W9_BATCH = 4
W9_KEYS: dict[str, str] = {}  # slug -> the heavier lane's key


def prepare_w9(slug: str) -> None:
    """The demo, and for the lanes a tier of weight 4 whose user's key the heavier lane's
    scripts show: the demo's settings are published with the site's lanes on save."""
    from django.contrib.auth.models import User

    from queueapp.models import Tier
    from queueapp.services.accounts import api_key_issue

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="w9-heavy")
    tier, _ = Tier.objects.get_or_create(
        slug="w9-heavy", defaults={"name": "W9 heavy", "weight": W9_WEIGHTS["heavy"]}
    )
    tier.users.add(user)
    W9_KEYS[slug] = api_key_issue(user=user, name=slug)[1]
    Demo.objects.create(
        slug=slug,
        title=slug,
        function="sleepy_batch",
        batch=True,
        max_batch_size=W9_BATCH,
        expected_seconds=0.054,
        worker_pool="bench",
        max_jobs_per_visitor=None,
    )


async def lanes_at_work(stack: Stack, slug: str, keys: dict[str, str]) -> list:
    """W9's jobs, each lane's from its own sockets (showing `keys[lane]`, if any); every job,
    once all have ended."""
    visitors = [
        await LaneVisitor.connect(stack.url, stack.origin, lane, keys.get(lane, ""))
        for lane, sockets in W9_SOCKETS.items()
        for _ in range(sockets)
    ]
    start = time.perf_counter()
    work = []
    for lane, count in W9_JOBS.items():
        mine = [v for v in visitors if v.lane == lane]
        moments = [start + W9_ARRIVAL_SECONDS * n / count for n in range(count)]
        for i, visitor in enumerate(mine):
            share = moments[i :: len(mine)]
            work += [visitor.join_at(slug, ["hello"], share), visitor.follow(len(share))]
    await asyncio.wait_for(asyncio.gather(*work), timeout=300)
    await asyncio.gather(*(visitor.close() for visitor in visitors))
    return [job for visitor in visitors for job in visitor.jobs]


def line_record(slug: str, jobs: list) -> list[tuple[str, float, float]]:
    """Each job's lane, and when it joined and started on Redis's clock (the order of the
    line, which the load generator's clock, a frame later, only approximates)."""
    times = job_times(slug, [job.id for job in jobs], "created", "started")
    return [(job.lane, created, started) for job, (created, started) in zip(jobs, times)]


def job_times(slug: str, job_ids: list[str], *fields: str) -> list[list[float]]:
    """The named times of each job, as its scripts recorded them on Redis's clock."""
    with get_store().redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(job_key(slug, job_id), *fields)
        return [[float(value) for value in values] for values in pipe.execute()]


def steady_eta_errors(jobs: list, last_arrival: float) -> list[float]:
    """The ETA errors of the jobs that started while jobs were still arriving: an ETA
    allows for the arrivals to come at the rate seen so far, which the end of the run
    (unknown to the server) breaks."""
    return [job.eta_error for job in jobs if job.started <= last_arrival]


def lane_report(jobs: list, record: list[tuple[str, float, float]]) -> dict:
    """Turns per lane while both lanes had jobs waiting, each lane's longest wait, the
    lighter lane's waits against the bound of docs/architecture.md (from the line's
    `record`), and each lane's median ETA error as its visitors saw it
    (`steady_eta_errors`)."""
    starts = sorted(started for _, _, started in record)
    joined = {lane: sorted(c for name, c, _ in record if name == lane) for lane in W9_JOBS}
    started = {lane: sorted(s for name, _, s in record if name == lane) for lane in W9_JOBS}

    def waiting(lane: str, moment: float) -> int:
        """Jobs of the lane that had joined by `moment` and not started by then."""
        return bisect_right(joined[lane], moment) - bisect_right(started[lane], moment)

    turns = {lane: 0 for lane in W9_JOBS}
    for lane, _, start in record:
        if all(waiting(name, start) > 0 for name in W9_JOBS):
            turns[lane] += 1
    # A light job waits at most (k + 1) x (1 + 4) jobs, k being the light jobs ahead of it
    # when it joined; plus a batch, whose jobs start together.
    ratio = W9_WEIGHTS["heavy"] / W9_WEIGHTS["light"]
    worst = 0.0
    for lane, created, start in record:
        if lane == "light":
            ahead = waiting("light", created) - 1  # less itself
            passed = bisect_right(starts, start) - bisect_right(starts, created) - 1
            worst = max(worst, passed / ((ahead + 1) * (1 + ratio) + W9_BATCH))
    report = {"heavy:light turns while both wait": turns["heavy"] / max(turns["light"], 1)}
    report["turns counted"] = sum(turns.values())
    for lane in W9_JOBS:
        waits = [s - c for name, c, s in record if name == lane]
        report[f"{lane} longest wait s"] = max(waits)
    lanes = {lane: [job for job in jobs if job.lane == lane] for lane in W9_JOBS}
    for lane, mine in lanes.items():
        steady = steady_eta_errors(mine, max(job.sent for job in jobs))
        report[f"ETA error p50 ms {lane}"] = quantile_ms(steady, 0.5)
    report["light waits ÷ bound, worst"] = worst
    return report


async def w9(stack: Stack, slug: str) -> tuple[int, dict]:
    jobs = await lanes_at_work(stack, slug, {"heavy": W9_KEYS.pop(slug)})
    return len(jobs), lane_report(jobs, line_record(slug, jobs))


async def w9_one_lane(stack: Stack, slug: str) -> tuple[int, dict]:
    """W9 with everyone in one lane (no key shown): the single-lane ETA error."""
    W9_KEYS.pop(slug)
    jobs = await lanes_at_work(stack, slug, {})
    return len(jobs), {
        "ETA error p50 ms": quantile_ms(steady_eta_errors(jobs, max(j.sent for j in jobs)), 0.5),
        "longest wait s": max(job.started - job.sent for job in jobs),
    }


def arrivals_report(arrivals: list[Arrival], burst: float) -> dict:
    """What a burst's visitors lived through: refused handshakes, and when the last one was
    positioned (or told the line was full)."""
    answered = [a for a in arrivals if a.positioned is not None]
    return {
        "refused": len(arrivals) - len(answered),
        "all answered s": max(a.positioned for a in answered),
        "connect p50 ms": quantile_ms([a.connected for a in answered], 0.5),
        "answered p50 ms": quantile_ms([a.positioned for a in answered], 0.5),
    }


async def reference(stack: Stack, count: int) -> tuple[int, dict]:
    """The bare app under the same daphne command takes the same burst."""
    rss_before = stack.web_rss()
    arrivals, burst = await burst_of_arrivals(stack.url, stack.origin, "bare", ["x"], count)
    report = arrivals_report(arrivals, burst)
    report["KB per socket"] = (stack.web_rss() - rss_before) / count / 1024
    await asyncio.gather(*(a.client.close() for a in arrivals if a.client))
    return count, report


MOVES = ("estimation", "process_starts")


async def updated(client: Client, timeout: float) -> bool:
    """Whether the waiting client hears that it moved (a new position, or its start) within
    `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while json.loads(await client.socket.recv())["msg"] not in MOVES:
                pass
        return True
    except TimeoutError:
        return False


async def w4(stack: Stack, slug: str) -> tuple[int, dict]:
    publish(slug, function="slow_steps", expected_seconds=0.5, worker_pool="bench")
    rss_before = stack.web_rss()
    arrivals, burst = await burst_of_arrivals(stack.url, stack.origin, slug, [1], 1000)
    waiting = [a for a in arrivals if a.outcome == "waiting"]
    assert len(waiting) == 1000, f"W4 visitors not waiting: {len(arrivals) - len(waiting)}"
    report = arrivals_report(arrivals, burst)
    rss_after = stack.web_rss()
    # Jobs start every half second: each waiter hears its rank move within a few seconds.
    heard = await asyncio.gather(*(updated(a.client, 10) for a in waiting))
    await asyncio.gather(*(a.client.close() for a in arrivals))
    return 1000, {
        "all positioned s": report["all answered s"],
        "connect p50 ms": report["connect p50 ms"],
        "waiters updated %": 100 * sum(heard) / len(heard),
        "KB per waiter": (rss_after - rss_before) / 1000 / 1024,
    }


async def w5(stack: Stack, slug: str) -> tuple[int, dict]:
    # A 10 s job runs first (its worker is live, so no visitor is told otherwise).
    publish(slug, function="slow_steps", max_size=50, worker_pool="bench")
    arrivals, burst = await burst_of_arrivals(stack.url, stack.origin, slug, [20], 200)
    full = [a.positioned for a in arrivals if a.outcome == "queue_full"]
    waiting = get_store().queue_size(slug)
    await asyncio.gather(*(a.client.close() for a in arrivals if a.client))
    ranks = [a.rank for a in arrivals if a.rank is not None]
    return 200, {
        "admitted": sum(1 for a in arrivals if a.outcome == "waiting"),
        # The most that waited at once, as their ranks said: running jobs do not wait. After
        # the burst, one fewer waits if the first job started only once the line was full.
        "most waiting": max(ranks) + 1,
        "waiting after": waiting,
        "told full": len(full),
        "refusal p50 ms": quantile_ms(full, 0.5),
        "connect p50 ms": quantile_ms([a.connected for a in arrivals if a.connected], 0.5),
    }


W7_VISITORS = 10_000
W7_HOLD_SECONDS = 60


async def w7(stack: Stack, slug: str) -> tuple[int, dict]:
    """Ten thousand visitors connect and join at once, then wait a minute on open sockets
    while 10 s jobs run one after another (everyone's position moves as each starts)."""
    publish(slug, function="slow_steps", worker_pool="bench")
    rss_before = stack.web_rss()
    arrivals, burst = await burst_of_arrivals(stack.url, stack.origin, slug, [20], W7_VISITORS)
    report = arrivals_report(arrivals, burst)
    rss_after = stack.web_rss()
    waiting = [a for a in arrivals if a.outcome == "waiting"]
    await asyncio.sleep(W7_HOLD_SECONDS)
    alive = await asyncio.gather(*(a.client.ping() for a in waiting))
    await asyncio.gather(*(a.client.close() for a in arrivals if a.client))
    return W7_VISITORS, {
        "refused": report["refused"],
        "positioned": len(waiting),
        "all positioned s": report["all answered s"],
        "connect p50 ms": report["connect p50 ms"],
        f"alive after {W7_HOLD_SECONDS} s": sum(alive),
        "KB per waiter": (rss_after - rss_before) / max(len(waiting), 1) / 1024,
    }


@dataclass(frozen=True)
class Workload:
    description: str
    run: object  # async (stack, slug) -> (requests, metrics)
    workers: list[tuple[str, int]] = field(default_factory=list)
    web_processes: int = 1
    app: str = LINEUP_APP
    gradio_concurrency: int = 0  # > 0: a Gradio reference run with this concurrency
    # Settings published before the stack starts, as a site has them before its workers start
    # (a worker loads the models of its pools' demos when it starts): (slug) -> None.
    prepare: object = None

    def stack(self):
        if self.gradio_concurrency:
            return GradioStack(self.gradio_concurrency)
        return Stack(self.workers, self.web_processes, self.app)


def bare_burst(count: int):
    async def run(stack: Stack, slug: str) -> tuple[int, dict]:
        return await reference(stack, count)

    return run


WORKLOADS = {
    "G1": Workload("Gradio 6.31: W1", g1, gradio_concurrency=1),
    "G2": Workload("Gradio 6.31: W2", g2, gradio_concurrency=4),
    "G3": Workload("Gradio 6.31: W3", g3, gradio_concurrency=1),
    "W1": Workload("1 client, 200 sequential identity calls, concurrency 1", w1, [("bench", 1)]),
    "W2": Workload("100 clients x 10 identity calls, concurrency 4", w2, [("bench", 4)]),
    "W3": Workload(
        "64 clients x 5 batch calls (50 ms + 1 ms/item, max_batch_size 16)",
        batched_line(0),
        [("bench", 1)],
    ),
    "W3w": Workload(
        f"W3 with batch_wait_ms {W3W_BATCH_WAIT_MS}: a partial batch waits for more jobs",
        batched_line(W3W_BATCH_WAIT_MS),
        [("bench", 1)],
    ),
    "R1000": Workload(
        "reference: 1,000 sockets at once to a bare ASGI app", bare_burst(1000), app=BARE_APP
    ),
    "W4": Workload("1,000 clients connect and join a 0.5 s function at once", w4, [("bench", 1)]),
    "R200": Workload(
        "reference: 200 sockets at once to a bare ASGI app", bare_burst(200), app=BARE_APP
    ),
    "W5": Workload("200 clients connect and join at once against max_size=50", w5, [("bench", 1)]),
    "W6": Workload(
        "MiniLM sentence similarity, 64 clients x 4 calls, batches of 32 against 1",
        w6,
        [("bench", 1)],
        prepare=prepare_w6,
    ),
    "W8": Workload(
        "W2 through Gradio's protocol against Lineup (gradio_client's way in)",
        w8,
        [("bench", 4)],
        prepare=prepare_w8,
    ),
    "R10000": Workload(
        "reference: 10,000 sockets at once to a bare ASGI app",
        bare_burst(W7_VISITORS),
        app=BARE_APP,
    ),
    "W7": Workload(
        "10,000 clients connect and join at once, one daphne; held 60 s", w7, [("bench", 1)]
    ),
    "W9": Workload(
        "lanes of weights 4 and 1, one saturated line, 3,000 jobs, 3:1 from the lighter",
        w9,
        [("bench", 1)],
        prepare=prepare_w9,
    ),
    "W9s": Workload(
        "W9 with everyone in one lane: the single-lane ETA error",
        w9_one_lane,
        [("bench", 1)],
        prepare=prepare_w9,
    ),
    "W7x": Workload(
        f"W7 on {settings.LINEUP_WEB_PROCESSES} daphne processes (LINEUP_WEB_PROCESSES)",
        w7,
        [("bench", 1)],
        web_processes=settings.LINEUP_WEB_PROCESSES,
    ),
}

# Lineup's arrivals against the reference measured in the same run: (workload, its metric,
# reference, the reference's metric).
RATIOS = [
    ("G1", "p50 ms", "W1", "p50 ms"),
    ("W2", "req/s", "G2", "req/s"),
    ("W3", "share of ideal %", "G3", "share of ideal %"),
    ("W3w", "share of ideal %", "G3", "share of ideal %"),
    ("W4", "all positioned s", "R1000", "all answered s"),
    ("W5", "refusal p50 ms", "R200", "connect p50 ms"),
    ("W7", "all positioned s", "R10000", "all answered s"),
    ("W7x", "all positioned s", "W7", "all positioned s"),
    ("W6", "batched req/s", "W6", "bare batched req/s"),
    ("W8", "req/s", "W2", "req/s"),
    ("W9", "ETA error p50 ms light", "W9s", "ETA error p50 ms"),
    ("W9", "ETA error p50 ms heavy", "W9s", "ETA error p50 ms"),
]


def run_workload(name: str, runs: int) -> dict:
    workload = WORKLOADS[name]
    results, cpu = [], []
    for run in range(runs):
        # A fresh server and workers for every run, which nothing warms up.
        slug = f"{name.lower()}-{run}-{int(time.time())}"
        if workload.prepare:
            workload.prepare(slug)
        with workload.stack() as stack:
            before = stack.cpu_seconds()
            requests, metrics = asyncio.run(workload.run(stack, slug))
            after = stack.cpu_seconds()
        results.append(metrics)
        cpu.append({part: 1000 * (after[part] - before[part]) / requests for part in after})
        print(
            f"  {name} run {run + 1}: " + ", ".join(f"{k} {v:.3g}" for k, v in metrics.items()),
            flush=True,
        )
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    cpu_median = {part: statistics.median(c[part] for c in cpu) for part in cpu[0]}
    spread = {key: (min(r[key] for r in results), max(r[key] for r in results)) for key in median}
    return {
        "description": workload.description,
        "metrics": median,
        "spread": spread,
        "cpu_ms_per_request": cpu_median,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    args = parser.parse_args()
    report = {}
    for name in args.only.split(","):
        if WORKLOADS[name].gradio_concurrency and not GRADIO_PYTHON.exists():
            print(f"{name}: skipped, no Gradio at {GRADIO_PYTHON} (make bench installs it)")
            continue
        print(f"{name}: {WORKLOADS[name].description}", flush=True)
        report[name] = run_workload(name, args.runs)
    print(
        f"\nMedians of {args.runs} runs; CPU in ms per request (redis / web server / workers / load generator).\n"
    )
    print("| workload | result | CPU ms per request |")
    print("|---|---|---|")
    for name, result in report.items():
        metrics = "; ".join(
            f"{k} {v:.3g} ({low:.3g}–{high:.3g})"
            for (k, v), (low, high) in zip(result["metrics"].items(), result["spread"].values())
        )
        cpu = " / ".join(f"{v:.2f}" for v in result["cpu_ms_per_request"].values())
        print(f"| {name} | {metrics} | {cpu} |")
    ratios = [r for r in RATIOS if r[0] in report and r[2] in report]
    if ratios:
        print("\n| ratio | medians |\n|---|---|")
    for name, metric, ref, ref_metric in ratios:
        mine, theirs = report[name]["metrics"][metric], report[ref]["metrics"][ref_metric]
        print(
            f"| {name} {metric} ÷ {ref} {ref_metric} | {mine:.3g} ÷ {theirs:.3g} = {mine / theirs:.2f} |"
        )
    (FOLDER / "results.json").write_text(json.dumps(report, indent=2))
    print(f"\nResults also in {FOLDER / 'results.json'}")


if __name__ == "__main__":
    main()
