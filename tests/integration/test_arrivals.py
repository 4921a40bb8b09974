"""A burst of visitors arriving at a web process that has never served a join: every one of
them is positioned and then hears of each move of the line, and no socket is closed on them."""

import asyncio
import json
import time

import pytest
import websockets

from queueapp.store import get_store
from tests.support.functions import gate_key

from .cluster import Cluster
from .test_cluster import publish, wait_for_workers

pytestmark = pytest.mark.stack

VISITORS = 200
STEPS = 8  # jobs started one by one while the others wait


class Arrival:
    """One visitor: connects, joins at once, and keeps every frame it is sent."""

    def __init__(self, url: str, origin: str, demo: str, label: str):
        self.url, self.origin, self.demo, self.label = url, origin, demo, label
        self.frames: list[dict] = []
        self.job: str | None = None

    async def arrive(self) -> None:
        self.socket = await websockets.connect(self.url, origin=self.origin, open_timeout=60)
        join = {"msg": "join", "demo": self.demo, "data": [self.label], "ref": "r"}
        await self.socket.send(json.dumps(join))
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            frame = json.loads(message)
            self.frames.append(frame)
            if frame["msg"] == "joined":
                self.job = frame["job"]

    def ranks(self) -> list[int]:
        return [frame["rank"] for frame in self.frames if frame["msg"] == "estimation"]

    def refused(self) -> list[dict]:
        return [frame for frame in self.frames if frame["msg"] in ("error", "queue_full")]

    def started(self) -> bool:
        return any(frame["msg"] == "process_starts" for frame in self.frames)


async def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"after {timeout} s: {what}"
        await asyncio.sleep(0.05)


def test_a_burst_on_a_fresh_web_process_hears_every_move_of_the_line(tmp_path, slug):
    # Every visitor comes from this one address.
    cluster = Cluster(tmp_path, LINEUP_MAX_JOBS_PER_ADDRESS="0")
    store = get_store()
    try:
        port = cluster.daphne()  # a fresh web process: it has served no join yet
        pool = f"{slug}-pool"
        cluster.worker(pool)
        wait_for_workers([pool])
        publish(slug, pool, function="gated_label")
        url, origin = f"ws://127.0.0.1:{port}/ws/queue/", f"http://127.0.0.1:{port}"

        async def scenario() -> list[Arrival]:
            visitors = [Arrival(url, origin, slug, f"{slug}/{n}") for n in range(VISITORS)]
            await asyncio.gather(*(visitor.arrive() for visitor in visitors))
            await until(
                lambda: all(v.ranks() or v.refused() or v.reader.done() for v in visitors),
                60,
                "some visitors were never positioned",
            )
            closed = [v.socket.close_code for v in visitors if v.reader.done()]
            assert not closed, f"{len(closed)} sockets closed, with codes {set(closed)}"
            refusals = [frame for visitor in visitors for frame in visitor.refused()]
            assert not refusals, refusals[:3]
            # The first job holds the only slot: from here on, each opening of the gate
            # moves the line by exactly one.
            await until(
                lambda: store.queue_size(slug) == VISITORS - 1, 30, "the first job did not start"
            )
            for step in range(STEPS):
                waiting = store.queue_size(slug)
                # Each waiter has been told its rank as Redis has it now...
                job_ids = [visitor.job for visitor in visitors]
                truth = dict(zip(job_ids, store.ranks(slug, job_ids)[0]))

                def told(truth=truth) -> bool:
                    return all(
                        truth[visitor.job] is None or visitor.ranks()[-1] == truth[visitor.job]
                        for visitor in visitors
                    )

                await until(told, 30, f"a waiter was not told its rank before step {step}")
                # ...before the running job ends and the next one starts.
                store.redis.rpush(gate_key(slug), "go")
                await until(
                    lambda waiting=waiting: store.queue_size(slug) == waiting - 1,
                    30,
                    "the next job did not start",
                )
            for visitor in visitors:
                await visitor.socket.close()
                await visitor.reader
            return visitors

        visitors = asyncio.run(scenario())
    finally:
        cluster.stop()

    waited = [visitor for visitor in visitors if not visitor.started()]
    assert len(waited) >= VISITORS - STEPS - 1
    for visitor in waited:
        ranks = visitor.ranks()
        # One estimation for each rank it passed through: none skipped, none repeated.
        assert ranks == list(range(ranks[0], ranks[0] - len(ranks), -1)), ranks
        assert len(ranks) >= STEPS, ranks
    errors = [frame for v in visitors for frame in v.frames if frame["msg"] == "error"]
    assert not errors, errors[:3]
    assert all(visitor.socket.close_code == 1000 for visitor in visitors)
    log = "".join(path.read_text() for path in tmp_path.glob("daphne-*.log"))
    assert "Traceback" not in log, log[-3000:]
