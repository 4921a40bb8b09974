"""The chaos soak: visitors, reconnecting visitors and API scripts keep two demos busy while
workers, one of two daphne processes, and Redis (with its append-only file) are killed at
random. At the end every admitted job must have ended exactly once for its visitor (or been
told `lost`), and nothing may be left behind in Redis.

    python -m tests.soak --minutes 10              # `make soak`
    python -m tests.soak --minutes 10 --sentinel   # Redis kills are Sentinel failovers

A 60-second slice runs in `make test` (tests/integration/test_soak.py).
"""

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import django
import httpx
import redis
import redis.sentinel
import websockets

from demo_site import embedded_redis, processes
from queueapp.store.keys import key

ENDED = ("completed", "failed", "cancelled", "expired")
MAX_SIZE = 8  # each demo's line: small, so the soak fills it
VISITORS = 16
SCRIPTS = 4
SETTLE_SECONDS = 180  # after the load stops, for every admitted job to end
# What a socket or a read may end with when its process dies or is slow to answer.
GONE = (TimeoutError, OSError, websockets.WebSocketException)


@dataclass
class Report:
    admitted: int = 0
    ended: Counter = field(default_factory=Counter)  # how jobs ended, as their visitors saw it
    refused: Counter = field(default_factory=Counter)  # joins refused, by code
    kills: Counter = field(default_factory=Counter)  # worker, daphne, redis
    reconnects: int = 0
    duplicates: int = 0  # endings a visitor was told more than once
    unended: list[str] = field(default_factory=list)  # admitted jobs never told an ending
    most_waiting: int = 0
    # Jobs in a line (waiting and running) beyond max_size plus what can run at once: only
    # a dead worker's jobs may come back above max_size, and never more than were running.
    overfull: list[str] = field(default_factory=list)
    requeued: int = 0
    left_behind: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = []
        if self.duplicates:
            found.append(f"{self.duplicates} endings told twice")
        if self.unended:
            found.append(f"{len(self.unended)} admitted jobs never ended: {self.unended[:5]}")
        found += self.overfull[:5]
        found += self.left_behind
        return found

    def lines(self) -> list[str]:
        return [
            f"jobs admitted: {self.admitted}",
            f"endings: {dict(self.ended)}",
            f"joins refused: {dict(self.refused)}",
            f"kills: {dict(self.kills)}",
            f"reconnects: {self.reconnects}",
            f"requeued after a worker died: {self.requeued}",
            f"duplicates: {self.duplicates}",
            f"most waiting in one line: {self.most_waiting} (max_size {MAX_SIZE}; a dead "
            "worker's jobs come back above it)",
        ]


class OneRedis:
    """One Redis with its append-only file; killed as a crash would, then started again."""

    def __init__(self, folder: Path):
        self.port = embedded_redis.free_port()
        self.folder = folder / "redis"
        self.server = embedded_redis.start(self.port, self.folder)
        self.env = {"REDIS_URL": f"redis://127.0.0.1:{self.port}/0"}
        self.client = redis.Redis(port=self.port, decode_responses=True)

    async def kill(self) -> None:
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()
        await asyncio.sleep(random.uniform(0.5, 2))
        self.server = embedded_redis.start(self.port, self.folder)

    def stop(self) -> None:
        processes.stop(self.server)


class SentinelRedis:
    """A master, a replica and three sentinels: a kill ends whichever is the master, a
    replica is promoted, and the old master comes back as a replica."""

    MASTER = "lineup"

    def __init__(self, folder: Path):
        self.folder = folder
        ports = [embedded_redis.free_port() for _ in range(2)]
        self.servers = {
            port: embedded_redis.start(port, folder / f"redis-{port}") for port in ports
        }
        redis.Redis(port=ports[1]).replicaof("127.0.0.1", ports[0])
        self.sentinels = [
            embedded_redis.start_sentinel(
                folder / f"sentinel-{n}", master_port=ports[0], master_name=self.MASTER
            )
            for n in range(3)
        ]
        addresses = [("127.0.0.1", port) for port, _ in self.sentinels]
        self.sentinel = redis.sentinel.Sentinel(addresses)
        self.env = {
            "LINEUP_REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port, _ in self.sentinels),
            "LINEUP_REDIS_MASTER": self.MASTER,
        }
        self.client = self.sentinel.master_for(self.MASTER, decode_responses=True)
        self._until_in_sync()

    def _master_port(self) -> int | None:
        try:
            return self.sentinel.discover_master(self.MASTER)[1]
        except redis.RedisError:
            return None

    def _until_in_sync(self) -> None:
        """Until the sentinels name a master and the other server replicates it."""
        deadline = time.monotonic() + 60
        while True:
            master = self._master_port()
            replicas = [port for port in self.servers if port != master]
            try:
                info = redis.Redis(port=replicas[0]).info("replication")
                if master and info.get("master_link_status") == "up":
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the replica did not come back in sync")
            time.sleep(0.2)

    async def kill(self) -> None:
        master = self._master_port()
        self.servers[master].send_signal(signal.SIGKILL)
        self.servers[master].wait()
        await asyncio.sleep(random.uniform(2, 4))  # the sentinels promote the replica
        self.servers[master] = embedded_redis.start(master, self.folder / f"redis-{master}")
        await asyncio.to_thread(self._until_in_sync)  # so the next kill has a replica

    def stop(self) -> None:
        for _, process in self.sentinels:
            processes.stop(process)
        for server in self.servers.values():
            processes.stop(server)


class Stack:
    """The soak's Redis, two daphne processes and two workers, each of which can be
    killed."""

    def __init__(self, folder: Path, sentinel: bool = False):
        from tests.integration.cluster import Cluster

        self.redis = SentinelRedis(folder) if sentinel else OneRedis(folder)
        self.client = self.redis.client
        self.cluster = Cluster(
            folder,
            **self.redis.env,
            LINEUP_SLOT_LEASE_SECONDS="3",
            LINEUP_MAX_JOBS_PER_ADDRESS="0",
            LINEUP_JOINS_PER_MINUTE_PER_ADDRESS="0",
            LINEUP_JOINS_PER_MINUTE_PER_VISITOR="0",
            LINEUP_API_REQUESTS_PER_MINUTE_PER_ADDRESS="0",
        )
        self.sites: dict[int, subprocess.Popen] = {}  # port -> its daphne
        for _ in range(2):
            self._start_daphne()
        self.workers = [self.cluster.worker("default") for _ in range(2)]
        self.redis_up = True
        self.capacity: dict[str, int] = {}  # demo -> how many of its jobs may run at once

    def _start_daphne(self) -> None:
        port = self.cluster.daphne()
        self.sites[port] = self.cluster.processes[-1]

    def demo(self, slug: str, function: str, **fields) -> None:
        from tests.integration.test_gradio_cluster import create_demo

        fields = {"max_size": MAX_SIZE, "max_jobs_per_visitor": None, **fields}
        create_demo(self.cluster, slug, function=function, **fields)
        batch = fields.get("max_batch_size", 1) if fields.get("batch") else 1
        self.capacity[slug] = fields.get("concurrency_count", 1) * batch

    def live_site(self) -> str:
        return f"127.0.0.1:{random.choice(list(self.sites))}"

    def line(self, demo: str) -> tuple[int, int]:
        """Jobs waiting, and running, in the demo's line."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(key(demo, "waiting"))
            pipe.zcard(key(demo, "running"))
            return tuple(pipe.execute())

    async def kill_worker(self) -> None:
        victim = random.choice(self.workers)
        self.workers.remove(victim)
        self.cluster.kill(victim)
        self.workers.append(self.cluster.worker("default"))

    async def kill_daphne(self) -> None:
        port = random.choice(list(self.sites))
        self.cluster.kill(self.sites.pop(port))
        await asyncio.to_thread(self._start_daphne)

    async def kill_redis(self) -> None:
        self.redis_up = False
        await self.redis.kill()
        self.redis_up = True

    def stop(self) -> None:
        self.cluster.stop()
        self.redis.stop()


class Visitor:
    """A browser: a session, one job at a time, followed over sockets that may die (or that
    it closes itself, as a refresh does) and resumed on whichever process it reaches."""

    def __init__(self, stack: Stack, report: Report, demos: list[str]):
        self.stack, self.report, self.demos = stack, report, demos
        self.cookie = ""

    async def run(self, until: float) -> None:
        while not self.cookie:
            try:
                async with httpx.AsyncClient() as http:
                    page = await http.get(f"http://{self.stack.live_site()}/demos/{self.demos[0]}/")
                self.cookie = f"sessionid={page.cookies['sessionid']}"
            except (httpx.HTTPError, KeyError):
                await asyncio.sleep(0.5)
        while time.monotonic() < until:
            demo = random.choice(self.demos)
            job = await self._join(demo)
            if job:
                await self._follow(demo, job)

    async def _socket(self):
        while True:
            try:
                socket = await websockets.connect(
                    f"ws://{self.stack.live_site()}/ws/queue/",
                    origin=f"http://{self.stack.live_site()}",
                    additional_headers={"Cookie": self.cookie},
                    open_timeout=30,
                )
                json.loads(await asyncio.wait_for(socket.recv(), 30))  # hello
                return socket
            except GONE:
                await asyncio.sleep(random.uniform(0.2, 1))

    async def _join(self, demo: str) -> str | None:
        socket = await self._socket()
        try:
            data = [f"{demo}/{random.random():.6f}", random.choice([0.05, 0.1, 0.3])]
            await socket.send(json.dumps({"msg": "join", "demo": demo, "data": data, "ref": "j"}))
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 60))
                if frame["msg"] == "joined":
                    self.report.admitted += 1
                    self.socket = socket
                    return frame["job"]
                if frame["msg"] in ("error", "queue_full"):
                    self.report.refused[frame["code"]] += 1
                    await socket.close()
                    await asyncio.sleep(random.uniform(0.2, 1))
                    return None
        except GONE:
            # The process died before answering: whether it admitted the job is unknown
            # to this visitor, as to a real one (such a job runs to an ending unheard).
            self.report.refused["no_answer"] += 1
            await socket.close()
            return None

    async def _follow(self, demo: str, job: str) -> None:
        told = 0
        socket, deadline = self.socket, time.monotonic() + SETTLE_SECONDS + 60
        while time.monotonic() < deadline:
            refresh_at = time.monotonic() + random.choice([1, 3, 1000])  # some refresh
            try:
                while time.monotonic() < refresh_at:
                    timeout = refresh_at - time.monotonic()
                    frame = json.loads(await asyncio.wait_for(socket.recv(), timeout))
                    if frame.get("job") != job:
                        continue
                    if frame["msg"] == "process_completed":
                        told += 1
                        code = "completed" if frame["success"] else frame["error"]["code"]
                        self.report.ended[code] += 1
                    elif frame["msg"] == "cancelled":
                        told += 1
                    elif frame["msg"] == "error" and frame["code"] == "unknown_job":
                        told += 1  # gone while we were away: counted as lost
                        self.report.ended["unknown_on_resume"] += 1
                    elif frame["msg"] == "error" and frame["code"] == "unavailable":
                        raise ConnectionResetError("Redis is away; resume again")
                    if told:
                        # Anything more about this job on this socket is a duplicate.
                        more = await self._more_endings(socket, job)
                        self.report.duplicates += more
                        await socket.close()
                        return
            except GONE:
                pass
            await socket.close()
            self.report.reconnects += 1
            socket = await self._socket()
            await socket.send(json.dumps({"msg": "resume", "demo": demo, "job": job}))
        self.report.unended.append(job)

    @staticmethod
    async def _more_endings(socket, job: str) -> int:
        more = 0
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
                if frame.get("job") == job and frame["msg"] in ("process_completed", "cancelled"):
                    more += 1
        except GONE:
            return more


async def script(stack: Stack, report: Report, demo: str, until: float) -> None:
    """A script on the HTTP API: submit, poll until the job ends."""
    async with httpx.AsyncClient(timeout=30) as http:
        while time.monotonic() < until:
            url = f"http://{stack.live_site()}/api/v1/demos/{demo}/jobs/"
            try:
                answer = await http.post(url, json={"data": [f"{demo}/api", 0.05]})
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if answer.status_code != 202:
                report.refused[answer.json().get("error", {}).get("code", "http")] += 1
                await asyncio.sleep(0.5)
                continue
            report.admitted += 1
            job = answer.json()["job"]
            status = await _poll(stack, http, demo, job)
            report.ended[status] += 1
            if status == "never":
                report.unended.append(job)


async def _poll(stack: Stack, http: httpx.AsyncClient, demo: str, job: str) -> str:
    deadline = time.monotonic() + SETTLE_SECONDS + 60
    while time.monotonic() < deadline:
        try:
            answer = await http.get(f"http://{stack.live_site()}/api/v1/demos/{demo}/jobs/{job}/")
            if answer.status_code == 404:
                return "unknown_on_poll"
            if answer.status_code in (200, 202) and answer.json()["status"] in ENDED:
                return answer.json()["status"]
        except (httpx.HTTPError, ValueError):
            pass
        await asyncio.sleep(0.2)
    return "never"


async def chaos(stack: Stack, report: Report, until: float) -> None:
    kinds = ["worker", "worker", "daphne", "redis"]
    while time.monotonic() < until:
        await asyncio.sleep(random.uniform(3, 8))
        kind = random.choice(kinds)
        await getattr(stack, f"kill_{kind}")()
        report.kills[kind] += 1


async def watch(stack: Stack, report: Report, demos: list[str], until: float) -> None:
    while time.monotonic() < until:
        if stack.redis_up:
            try:
                for demo in demos:
                    waiting, running = stack.line(demo)
                    report.most_waiting = max(report.most_waiting, waiting)
                    if waiting + running > MAX_SIZE + stack.capacity[demo]:
                        report.overfull.append(f"{demo}: {waiting} waiting, {running} running")
            except redis.RedisError:  # it went down between the check and the read
                pass
        await asyncio.sleep(0.2)


def left_behind(client: redis.Redis, demos: list[str]) -> list[str]:
    """What the lines still hold once every job has ended and the sweepers have run."""
    found = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = []
        for demo in demos:
            for name in ("waiting", "running", "slots", "outbox", "detached"):
                if client.zcard(key(demo, name)):
                    found.append(f"{demo}: {name} not empty")
            counts = client.hvals(key(demo, "active"))
            if any(int(count) for count in counts):
                found.append(f"{demo}: active counts left {counts}")
        if not found:
            return []
        time.sleep(0.5)
    return found


async def soak(stack: Stack, demos: list[str], seconds: float) -> Report:
    report = Report()
    until = time.monotonic() + seconds
    visitors = [Visitor(stack, report, demos).run(until) for _ in range(VISITORS)]
    scripts = [script(stack, report, demos[n % len(demos)], until) for n in range(SCRIPTS)]
    await asyncio.gather(
        *visitors, *scripts, chaos(stack, report, until), watch(stack, report, demos, until)
    )
    return report


def run(folder: Path, seconds: float, sentinel: bool = False) -> Report:
    """Soak a stack started in `folder` for `seconds` (on Redis Sentinel if `sentinel`)."""
    stack = Stack(folder, sentinel)
    try:
        demos = ["soak-one", "soak-batch"]
        stack.demo(demos[0], "sleepy_label", concurrency_count=2)
        stack.demo(demos[1], "sleepy_label_batch", batch=True, max_batch_size=4)
        report = asyncio.run(soak(stack, demos, seconds))
        stats = [stack.client.hget(key(demo, "stats"), "requeued") for demo in demos]
        report.requeued = sum(int(count or 0) for count in stats)
        report.left_behind = left_behind(stack.client, demos)
        return report
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument(
        "--sentinel",
        action="store_true",
        help="a master, a replica and three sentinels; each Redis kill is a failover",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        # This process's own settings (the Cluster reads them) start no Redis of their own.
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")
        os.environ["LINEUP_VAR_DIR"] = folder
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
        django.setup()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
        report = run(Path(folder), args.minutes * 60, args.sentinel)
    print("\n".join(report.lines()))
    problems = report.problems()
    print("\n".join(f"PROBLEM: {p}" for p in problems) or "every invariant held")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
