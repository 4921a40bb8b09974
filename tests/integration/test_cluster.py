"""A small cluster on one machine: two daphne processes and two Celery workers in two pools,
sharing one Redis. Visitors on either web process share one line; each demo runs only in
its own pool."""

import asyncio
import time
from contextlib import AsyncExitStack

import pytest

from models_registry.models import Demo
from queueapp.line import LineConfig
from queueapp.services import demos
from queueapp.store import get_store
from tests.client.lineup_client import LineupClient
from tests.support.functions import read_runs

from .cluster import Cluster

pytestmark = pytest.mark.stack


def publish(slug: str, pool: str, function: str = "recorded_sleep", **fields) -> None:
    demo = Demo(
        slug=slug,
        title=slug,
        function=function,
        worker_pool=pool,
        max_jobs_per_visitor=None,
        **fields,
    )
    get_store().publish_config(slug, LineConfig.from_demo(demo))


def wait_for_workers(pools: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not all(get_store().live_workers(pool) for pool in pools):
        assert time.monotonic() < deadline, "the workers did not announce themselves"
        time.sleep(0.2)


def test_two_web_processes_share_a_line_and_pools_keep_their_demos(tmp_path, slug):
    cluster = Cluster(tmp_path)
    try:
        sites = [f"http://127.0.0.1:{cluster.daphne()}" for _ in range(2)]
        pools = [f"{slug}-cpu", f"{slug}-gpu"]
        workers = [cluster.worker(pool) for pool in pools]
        wait_for_workers(pools)
        line, other = f"{slug}", f"{slug}-other"
        publish(line, pools[0], paused=True)  # still, so every rank at joining is known
        publish(other, pools[1])

        async def scenario():
            async with AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(LineupClient(sites[n % 2])) for n in range(6)
                ]
                jobs = [
                    await client.join(line, [f"{line}/{n}", 0.3])
                    for n, client in enumerate(clients)
                ]
                others = [await clients[n].join(other, [f"{other}/{n}", 0.1]) for n in (0, 1)]
                publish(line, pools[0], paused=False)
                demos.wake_pool(slug=line, pool=pools[0])

                async def follow(client, job):
                    return [frame async for frame in client.follow(job)]

                followed = await asyncio.gather(
                    *(follow(clients[n], job) for n, job in enumerate(jobs)),
                    *(follow(clients[n], job) for n, job in enumerate(others)),
                )
                return jobs, followed

        jobs, followed = asyncio.run(scenario())
        line_frames = followed[: len(jobs)]
        for n, frames in enumerate(line_frames):
            ranks = [frame["rank"] for frame in frames if frame["msg"] == "estimation"]
            # Joined through either web process, each visitor got the rank of its turn, and
            # saw it fall to 0 without ever going up.
            assert ranks[0] == n, (n, ranks)
            assert ranks == sorted(ranks, reverse=True) and ranks[-1] == 0
            assert frames[-1]["success"] is True
        assert all(frames[-1]["success"] for frames in followed[len(jobs) :])

        runs = read_runs(line)
        assert [run["labels"][0] for run in runs] == [f"{line}/{n}" for n in range(6)]
        assert {run["pid"] for run in runs} == {workers[0].pid}
        assert {run["pid"] for run in read_runs(other)} == {workers[1].pid}
        announced = get_store().live_workers(pools[1])
        assert [worker["pools"] for worker in announced] == [[pools[1]]]
    finally:
        cluster.stop()
