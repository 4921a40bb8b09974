"""`make bench`, Redis with a replica: what waiting for the replica costs, and how long a
failover leaves the line unable to take joins.

- R1: one job's whole life in the store (join, take_batch, finish_batch) on a master with
  one replica, with LINEUP_REDIS_MIN_REPLICAS 0 (asynchronous replication) and 1 (the batch
  runs only once the replica has it): the round trip p50 and p99.
- R2: three sentinels watch the master; it is killed (SIGKILL) while a client joins every
  10 ms through the sentinels: the time from the kill until a join is taken again.

    python -m bench.replicas [--runs 3]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_site import embedded_redis, processes  # noqa: E402

FOLDER = Path(tempfile.mkdtemp(prefix="lineup-replicas-"))
os.environ.update(
    {
        "REDIS_URL": "redis://127.0.0.1:1/0",  # never used: each measurement has its own
        "LINEUP_VAR_DIR": str(FOLDER),
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "LOG_LEVEL": "WARNING",
    }
)

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
import redis.sentinel  # noqa: E402
from django.conf import settings  # noqa: E402

from models_registry.models import Demo  # noqa: E402
from queueapp.line import LineConfig  # noqa: E402
from queueapp.store import Ending  # noqa: E402
from queueapp.store.redis_store import CONNECTION_OPTIONS, RedisQueueStore  # noqa: E402

MASTER = "lineup"
CYCLES = 1000


class Pair:
    """A master and its replica, in sync."""

    def __init__(self, folder: Path):
        self.ports = [embedded_redis.free_port() for _ in range(2)]
        self.servers = [embedded_redis.start(port, folder / str(port)) for port in self.ports]
        redis.Redis(port=self.ports[1]).replicaof("127.0.0.1", self.ports[0])
        until(
            lambda: (
                redis.Redis(port=self.ports[1]).info("replication")["master_link_status"] == "up"
            )
        )

    def stop(self) -> None:
        for server in self.servers:
            processes.stop(server)


def until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("a Redis did not come up")
        time.sleep(0.05)


def publish(store: RedisQueueStore, slug: str) -> None:
    demo = Demo(slug=slug, function="identity_text", max_jobs_per_visitor=None)
    store.publish_config(slug, LineConfig.from_demo(demo))


def life_cycles(min_replicas: int, folder: Path) -> list[float]:
    """Milliseconds per job for join + take_batch + finish_batch, CYCLES times."""
    settings.LINEUP_REDIS_MIN_REPLICAS = min_replicas
    pair = Pair(folder)
    try:
        store = RedisQueueStore(redis.Redis(port=pair.ports[0], **CONNECTION_OPTIONS))
        publish(store, "r1")
        took = []
        for n in range(CYCLES):
            began = time.perf_counter()
            store.join("r1", job_id=f"j{n}", owner="o", channel="", inputs=["x"])
            taken = store.take_batch("r1", slot="s")
            assert taken.replicated and [job.id for job in taken.jobs] == [f"j{n}"]
            store.finish_batch(
                "r1", slot="s", endings=[Ending(f"j{n}", "completed", ["x"])], duration=0.0
            )
            took.append((time.perf_counter() - began) * 1000)
        return took
    finally:
        pair.stop()
        settings.LINEUP_REDIS_MIN_REPLICAS = 0


def failover(folder: Path) -> float:
    """Seconds from the master's SIGKILL until a join through the sentinels is taken."""
    pair = Pair(folder)
    sentinels = [
        embedded_redis.start_sentinel(
            folder / f"sentinel-{n}", master_port=pair.ports[0], master_name=MASTER
        )
        for n in range(3)
    ]
    try:
        addresses = [("127.0.0.1", port) for port, _ in sentinels]
        for address in addresses:
            until(lambda a=address: redis.Redis(*a).sentinel_get_master_addr_by_name(MASTER))
        client = redis.sentinel.Sentinel(addresses).master_for(MASTER, **CONNECTION_OPTIONS)
        store = RedisQueueStore(client)
        publish(store, "r2")
        pair.servers[0].kill()
        killed = time.monotonic()
        n = 0
        while True:
            n += 1
            try:
                admission = store.join("r2", job_id=f"j{n}", owner="o", channel="", inputs=[])
                if admission.status == "ok":
                    return time.monotonic() - killed
            except redis.RedisError:
                pass
            time.sleep(0.01)
    finally:
        pair.stop()
        for _, process in sentinels:
            processes.stop(process)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    rows = []
    for wanted in (0, 1):
        p50s, p99s = [], []
        for run in range(runs):
            took = life_cycles(wanted, FOLDER / f"r1-{wanted}-{run}")
            p50s.append(statistics.median(took))
            p99s.append(percentile(took, 0.99))
        rows.append(
            f"| R1, LINEUP_REDIS_MIN_REPLICAS={wanted}: join + take + finish, p50 / p99 | "
            f"{statistics.median(p50s):.2f} / {statistics.median(p99s):.2f} ms "
            f"({min(p50s):.2f}–{max(p50s):.2f} / {min(p99s):.2f}–{max(p99s):.2f}) |"
        )
    seconds = [failover(FOLDER / f"r2-{run}") for run in range(runs)]
    rows.append(
        "| R2: master killed, until a join is taken again through the sentinels | "
        f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}–{max(seconds):.2f}) |"
    )
    print(f"\nRedis with a replica, medians of {runs} runs (lowest–highest):\n")
    print("| measure | result |\n|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(FOLDER, ignore_errors=True)
