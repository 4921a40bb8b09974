"""Redis Sentinel: the master dies under load, a replica takes over, and the queue's store,
the channel layer and the Celery broker all follow it. Every job admitted before the kill
ends once for its visitor (or is told `lost`), and joins are taken again within seconds.
With LINEUP_REDIS_MIN_REPLICAS, a batch no replica has confirmed is not run."""

import asyncio
import json
import subprocess
import time

import pytest
import redis
import websockets

from demo_site import embedded_redis, processes
from models_registry.models import Demo
from queueapp.line import LineConfig
from queueapp.store.redis_store import CONNECTION_OPTIONS, RedisQueueStore

from .cluster import Cluster
from .test_gradio_cluster import create_demo

pytestmark = pytest.mark.stack

MASTER = "lineup"
VISITORS = 12


def master_port(sentinel_port: int) -> int | None:
    try:
        found = redis.Redis(port=sentinel_port).sentinel_get_master_addr_by_name(MASTER)
    except redis.RedisError:
        return None
    return int(found[1]) if found else None


def replica_in_sync(port: int) -> bool:
    return redis.Redis(port=port).info("replication")["master_link_status"] == "up"


def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"after {timeout} s: {what}"
        time.sleep(0.1)


class Visitor:
    """One socket, one job, every frame kept."""

    def __init__(self, url: str, origin: str, cookie: str):
        self.url, self.origin, self.cookie = url, origin, cookie
        self.frames: list[dict] = []
        self.job: str | None = None

    async def join(self, demo: str, label: str) -> bool:
        """Whether the job was admitted (a refusal while Redis fails over says no)."""
        self.socket = await websockets.connect(
            self.url, origin=self.origin, additional_headers={"Cookie": self.cookie}
        )
        await self.socket.send(json.dumps({"msg": "join", "demo": demo, "data": [label, 0.2]}))
        async for message in self.socket:
            frame = json.loads(message)
            self.frames.append(frame)
            if frame["msg"] == "joined":
                self.job = frame["job"]
                self.reader = asyncio.create_task(self._read())
                return True
            if frame["msg"] == "error":
                await self.socket.close()
                return False
        return False

    async def _read(self) -> None:
        async for message in self.socket:
            self.frames.append(json.loads(message))

    def endings(self) -> list[dict]:
        return [f for f in self.frames if f["msg"] == "process_completed" and f["job"] == self.job]


def test_a_failover_under_load_loses_no_admitted_job(tmp_path):
    started: list[subprocess.Popen] = []
    cluster = None
    try:
        ports = [embedded_redis.free_port() for _ in range(2)]
        for port in ports:
            started.append(embedded_redis.start(port, tmp_path / f"redis-{port}"))
        redis.Redis(port=ports[1]).replicaof("127.0.0.1", ports[0])
        sentinels = []
        for n in range(3):
            port, process = embedded_redis.start_sentinel(
                tmp_path / f"sentinel-{n}", master_port=ports[0], master_name=MASTER
            )
            sentinels.append(port)
            started.append(process)
        until(lambda: all(master_port(s) == ports[0] for s in sentinels), 30, "sentinels up")
        until(lambda: replica_in_sync(ports[1]), 30, "the replica in sync")

        cluster = Cluster(
            tmp_path,
            LINEUP_REDIS_SENTINELS=",".join(f"127.0.0.1:{port}" for port in sentinels),
            LINEUP_REDIS_MASTER=MASTER,
            LINEUP_SLOT_LEASE_SECONDS="3",
            LINEUP_MAX_JOBS_PER_ADDRESS="0",
            LINEUP_JOINS_PER_MINUTE_PER_ADDRESS="0",
            LINEUP_JOINS_PER_MINUTE_PER_VISITOR="0",
        )
        site = f"127.0.0.1:{cluster.daphne()}"
        demo = "failover"
        create_demo(
            cluster, demo, function="sleepy_label", max_jobs_per_visitor=None, concurrency_count=2
        )
        cluster.worker("default")
        url, origin = f"ws://{site}/ws/queue/", f"http://{site}"

        async def scenario() -> tuple[list[Visitor], float]:
            cookie = "sessionid=" + "f" * 32  # one browser, many tabs
            admitted = []
            for n in range(VISITORS):
                visitor = Visitor(url, origin, cookie)
                assert await visitor.join(demo, f"before/{n}")
                admitted.append(visitor)
            # The master dies with jobs waiting, running and ended.
            killed_at = time.monotonic()
            started[0].kill()  # SIGKILL: no chance to hand anything over
            while True:  # joins are taken again once the replica is promoted
                after = Visitor(url, origin, cookie)
                if await after.join(demo, "after"):
                    back_after = time.monotonic() - killed_at
                    admitted.append(after)
                    break
                assert time.monotonic() - killed_at < 60, "joins did not resume"
                await asyncio.sleep(0.2)
            deadline = time.monotonic() + 90
            while not all(v.endings() for v in admitted):
                assert time.monotonic() < deadline, [v.frames[-1] for v in admitted]
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)  # time for a duplicate to show, if any came
            for visitor in admitted:
                await visitor.socket.close()
            return admitted, back_after

        admitted, back_after = asyncio.run(scenario())
        outcomes = [v.endings()[0]["success"] for v in admitted]
        print(
            f"joins taken again {back_after:.1f} s after the master was killed; "
            f"{outcomes.count(True)} of {len(admitted)} jobs completed, the rest told lost"
        )
        for visitor in admitted:
            (ending,) = visitor.endings()  # once, never twice
            assert ending["success"] or ending["error"]["code"] == "lost", ending
        assert all(master_port(s) == ports[1] for s in sentinels)
    finally:
        if cluster:
            cluster.stop()
        for process in started:
            processes.stop(process)


def test_a_batch_no_replica_confirmed_is_marked_not_to_run(tmp_path, slug, settings):
    settings.LINEUP_REDIS_MIN_REPLICAS = 1
    settings.LINEUP_REDIS_REPLICA_WAIT_MS = 200
    ports = [embedded_redis.free_port() for _ in range(2)]
    master, replica = (embedded_redis.start(port, tmp_path / str(port)) for port in ports)
    try:
        redis.Redis(port=ports[1]).replicaof("127.0.0.1", ports[0])
        store = RedisQueueStore(redis.Redis(port=ports[0], **CONNECTION_OPTIONS))
        until(lambda: replica_in_sync(ports[1]), 30, "the replica in sync")
        store.publish_config(
            slug,
            LineConfig.from_demo(Demo(slug=slug, function="identity_text", concurrency_count=2)),
        )
        for job_id in ("a", "b"):
            store.join(slug, job_id=job_id, owner=job_id, channel="", inputs=["x"])
        taken = store.take_batch(slug, slot="s1")
        assert [job.id for job in taken.jobs] == ["a"] and taken.replicated
        processes.stop(replica)  # the only replica is gone: nobody can confirm the next take
        taken = store.take_batch(slug, slot="s2")
        assert [job.id for job in taken.jobs] == ["b"] and not taken.replicated
    finally:
        for process in (master, replica):
            processes.stop(process)
