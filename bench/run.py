"""`make bench`: workloads W1–W6 of the bar (docs/performance.md) against a real stack.

Starts one private Redis, and for each run of each workload a fresh daphne and the Celery
workers it needs, all on 127.0.0.1; runs each workload several times and prints medians, with
the CPU time each component spent per request.

    python -m bench.run [--runs 3] [--only W1,W3]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_site import embedded_redis, processes  # noqa: E402

FOLDER = Path(tempfile.mkdtemp(prefix="lineup-bench-"))
REDIS_PORT = embedded_redis.free_port()
REDIS_PROCESS = embedded_redis.start(REDIS_PORT, FOLDER / "redis")
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
    }
)

import django  # noqa: E402

django.setup()

from bench.loadgen import Call, Client, connect_many  # noqa: E402
from models_registry.models import Demo  # noqa: E402
from queueapp.selectors import demo_stats, percentile  # noqa: E402
from queueapp.store import get_store  # noqa: E402

ORIGIN_HOST = "127.0.0.1"


@dataclass
class Stack:
    """daphne and Celery workers for one workload, on the bench's Redis."""

    workers: list[tuple[str, int]]
    port: int = 0
    children: list[subprocess.Popen] = field(default_factory=list)

    def __enter__(self) -> "Stack":
        env = {k: os.environ[k] for k in ("REDIS_URL", "LINEUP_VAR_DIR", "LOG_LEVEL")}
        self.port = embedded_redis.free_port()
        log = open(FOLDER / "stack.log", "a")
        daphne = processes.start(
            processes.daphne_command(port=self.port), env=env, cwd=ROOT, stdout=log, stderr=log
        )
        self.children.append(daphne)
        for pool, threads in self.workers:
            command = processes.worker_command(
                pools=[pool], concurrency=threads, name=f"bench-{pool}", loglevel="WARNING"
            )
            self.children.append(
                processes.start(command, env=env, cwd=ROOT, stdout=log, stderr=log)
            )
        processes.wait_for_port(self.port, process=daphne)
        time.sleep(3)  # workers connect to the broker
        return self

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
        def total(pid: int) -> float:
            times = psutil.Process(pid).cpu_times()
            return times.user + times.system

        return {
            "redis": total(REDIS_PROCESS.pid),
            "daphne": total(self.children[0].pid),
            "workers": sum(total(child.pid) for child in self.children[1:]),
            "loadgen": total(os.getpid()),
        }

    def daphne_rss(self) -> int:
        return psutil.Process(self.children[0].pid).memory_info().rss


def publish(slug: str, **fields) -> None:
    values = {"slug": slug, "title": slug, "max_jobs_per_visitor": None} | fields
    get_store().publish_config(slug, Demo(**values).queue_config())


def quantile_ms(values: list[float], fraction: float) -> float:
    return 1000 * percentile(values, fraction)


# --- workloads: each returns (requests, metrics) ------------------------------------------


async def w1(stack: Stack, slug: str) -> tuple[int, dict]:
    publish(slug, function="identity_text", expected_seconds=0.002, worker_pool="bench")
    client = await Client.connect(stack.url, stack.origin)
    for _ in range(20):  # warm-up
        await client.call(slug, ["hello"])
    calls = [await client.call(slug, ["hello"]) for _ in range(200)]
    await client.close()
    trips = [c.round_trip for c in calls if c.outcome == "completed"]
    assert len(trips) == 200, "some W1 calls failed"
    return 200, {"p50 ms": quantile_ms(trips, 0.5), "p99 ms": quantile_ms(trips, 0.99)}


async def many_clients_calling(
    stack: Stack, slug: str, clients: int, calls: int, data: list
) -> tuple[float, list[Call]]:
    people = await connect_many(stack.url, stack.origin, clients)
    await asyncio.gather(*(client.call(slug, data) for client in people))  # warm-up

    async def run(client: Client) -> list[Call]:
        return [await client.call(slug, data) for _ in range(calls)]

    started = time.perf_counter()
    results = await asyncio.gather(*(run(client) for client in people))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(client.close() for client in people))
    flat = [call for result in results for call in result]
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


async def w3(stack: Stack, slug: str) -> tuple[int, dict]:
    publish(
        slug,
        function="sleepy_batch",
        batch=True,
        max_batch_size=16,
        expected_seconds=0.066,
        worker_pool="bench",
    )
    elapsed, calls = await many_clients_calling(stack, slug, 64, 5, ["hello"])
    stats = demo_stats(slug=slug)
    throughput = len(calls) / elapsed
    return len(calls), {
        "req/s": throughput,
        "share of ideal %": 100 * throughput / W3_IDEAL,
        "mean batch": stats["mean_batch_size"],
        "ETA error p50 ms": 1000 * stats["eta_error_seconds"]["p50_abs"],
    }


W6_DATA = [
    "A cat sits on the mat",
    "A kitten rests on a rug\nStock markets fell sharply\nThe dog sleeps outside\n"
    "Cats like warm places\nRain is expected tomorrow",
]


async def w6(stack: Stack, slug: str) -> tuple[int, dict]:
    """The real model, batched against one job at a time, on the same worker thread."""
    results = {}
    for name, size in (("batched", 32), ("unbatched", 1)):
        line = f"{slug}-{name}"
        publish(
            line,
            function="sentence_similarity",
            batch=True,
            max_batch_size=size,
            expected_seconds=0.05,
            worker_pool="bench",
        )
        elapsed, calls = await many_clients_calling(stack, line, 64, 4, W6_DATA)
        results[name] = (len(calls) / elapsed, demo_stats(slug=line)["mean_batch_size"])
    (batched, mean_batch), (unbatched, _) = results["batched"], results["unbatched"]
    return 2 * 64 * 4, {
        "batched req/s": batched,
        "unbatched req/s": unbatched,
        "speed-up x": batched / unbatched,
        "mean batch": mean_batch,
    }


async def warm_up(people: list[Client], slug: str) -> None:
    """A burst of joins and cancels on a throwaway line, so the measured burst meets a warm
    server (pools filled, code paths run once), as it would in production."""
    publish(slug, function="identity_text", worker_pool="nowhere")
    sent = [await client.send_join(slug, ["x"]) for client in people]
    calls = await asyncio.gather(
        *(client.follow(start, until_position=True) for client, start in zip(people, sent))
    )
    await asyncio.gather(*(client.cancel(slug, call.job) for client, call in zip(people, calls)))
    await asyncio.sleep(0.5)
    for client in people:  # drop the cancel answers
        while True:
            try:
                await asyncio.wait_for(client.socket.recv(), 0.01)
            except TimeoutError:
                break


async def w4(stack: Stack, slug: str) -> tuple[int, dict]:
    publish(slug, function="slow_steps", expected_seconds=0.5, worker_pool="bench")
    rss_before = stack.daphne_rss()
    connect_started = time.perf_counter()
    people = await connect_many(stack.url, stack.origin, 1000)
    connected = time.perf_counter() - connect_started
    rss_connected = stack.daphne_rss()
    await warm_up(people[:200], f"{slug}-warm")
    sent = await asyncio.gather(*(client.send_join(slug, [1]) for client in people))
    burst = min(sent)
    calls = await asyncio.gather(
        *(client.follow(start, until_position=True) for client, start in zip(people, sent))
    )
    refused = [call.outcome for call in calls if call.first_position is None]
    assert not refused, f"W4 joins refused: {set(refused)}"
    all_positioned = max(start + call.first_position for start, call in zip(sent, calls)) - burst
    rss_after = stack.daphne_rss()
    ranks = sorted(call.rank for call in calls)
    await asyncio.gather(*(client.cancel(slug, call.job) for client, call in zip(people, calls)))
    await asyncio.sleep(1)
    await asyncio.gather(*(client.close() for client in people))
    return 1000, {
        "all positioned s": all_positioned,
        "KB per waiting client": (rss_after - rss_before) / 1000 / 1024,
        "of which the socket KB": (rss_connected - rss_before) / 1000 / 1024,
        "connect 1000 s": connected,
        "last rank": ranks[-1],
    }


async def w5(stack: Stack, slug: str) -> tuple[int, dict]:
    publish(slug, function="identity_text", max_size=50, worker_pool="nowhere")
    people = await connect_many(stack.url, stack.origin, 200)
    await warm_up(people, f"{slug}-warm")
    calls = await asyncio.gather(*(join_only(client, slug) for client in people))
    waiting = get_store().queue_size(slug)
    rejected = [c.round_trip for c in calls if c.outcome == "queue_full"]
    await asyncio.gather(*(client.close() for client in people))
    return 200, {
        "admitted": sum(1 for c in calls if c.outcome == "waiting"),
        "waiting after": waiting,
        "told full": len(rejected),
        "rejection p50 ms": quantile_ms(rejected, 0.5),
    }


async def join_only(client: Client, slug: str) -> Call:
    """Join and read only the answer: "waiting" (admitted) or the refusal's code."""
    started = await client.send_join(slug, ["hello"])
    while True:
        frame = json.loads(await client.socket.recv())
        if frame["msg"] in ("joined", "queue_full", "error"):
            outcome = "waiting" if frame["msg"] == "joined" else frame["code"]
            return Call(outcome=outcome, round_trip=time.perf_counter() - started)


WORKLOADS = {
    "W1": ("1 client, 200 sequential identity calls, concurrency 1", w1, [("bench", 1)]),
    "W2": ("100 clients x 10 identity calls, concurrency 4", w2, [("bench", 4)]),
    "W3": ("64 clients x 5 batch calls (50 ms + 1 ms/item, max_batch_size 16)", w3, [("bench", 1)]),
    "W4": ("1,000 clients join a 0.5 s function at once", w4, [("bench", 1)]),
    "W5": ("200 simultaneous joins against max_size=50", w5, []),
    "W6": (
        "MiniLM sentence similarity, 64 clients x 4 calls, batches of 32 against 1",
        w6,
        [("bench", 1)],
    ),
}


def run_workload(name: str, runs: int) -> dict:
    description, workload, workers = WORKLOADS[name]
    results, cpu = [], []
    for run in range(runs):
        with Stack(workers) as stack:  # a fresh daphne and workers for every run
            before = stack.cpu_seconds()
            requests, metrics = asyncio.run(
                workload(stack, f"{name.lower()}-{run}-{int(time.time())}")
            )
            after = stack.cpu_seconds()
        results.append(metrics)
        cpu.append({part: 1000 * (after[part] - before[part]) / requests for part in after})
        print(
            f"  {name} run {run + 1}: " + ", ".join(f"{k} {v:.3g}" for k, v in metrics.items()),
            flush=True,
        )
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    cpu_median = {part: statistics.median(c[part] for c in cpu) for part in cpu[0]}
    return {"description": description, "metrics": median, "cpu_ms_per_request": cpu_median}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    args = parser.parse_args()
    try:
        report = {}
        for name in args.only.split(","):
            print(f"{name}: {WORKLOADS[name][0]}", flush=True)
            report[name] = run_workload(name, args.runs)
    finally:
        REDIS_PROCESS.terminate()
    print(
        f"\nMedians of {args.runs} runs; CPU in ms per request (redis / daphne / workers / load generator).\n"
    )
    print("| workload | result | CPU ms per request |")
    print("|---|---|---|")
    for name, result in report.items():
        metrics = "; ".join(f"{k} {v:.3g}" for k, v in result["metrics"].items())
        cpu = " / ".join(f"{v:.2f}" for v in result["cpu_ms_per_request"].values())
        print(f"| {name} | {metrics} | {cpu} |")
    (FOLDER / "results.json").write_text(json.dumps(report, indent=2))
    print(f"\nResults also in {FOLDER / 'results.json'}")


if __name__ == "__main__":
    main()
