"""Redis is the queue's database: while it is down, visitors get a clear answer and keep
their sockets; when it comes back (from its append-only file), every job goes on."""

import asyncio
import json
import signal
import time

import pytest
import requests
import websockets

from demo_site import embedded_redis
from tests.conftest import resume_code

from .cluster import Cluster
from .test_gradio_cluster import create_demo, manage_shell

pytestmark = pytest.mark.stack


class Visitor:
    """A websocket and every frame it was sent."""

    def __init__(self, socket):
        self.socket = socket
        self.frames: list[dict] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            self.frames.append(json.loads(message))

    async def send(self, **frame) -> None:
        await self.socket.send(json.dumps(frame))

    async def until(self, kind: str, timeout: float = 60, **fields) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.frames:
                if frame["msg"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return frame
            assert time.monotonic() < deadline, f"no {kind} {fields} in {self.frames}"
            await asyncio.sleep(0.05)


def test_a_redis_restart_keeps_the_line_and_tells_visitors_meanwhile(tmp_path, slug):
    port = embedded_redis.free_port()
    redis_dir = tmp_path / "redis"
    server = embedded_redis.start(port, redis_dir)
    cluster = Cluster(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    try:
        site = f"127.0.0.1:{cluster.daphne()}"
        create_demo(cluster, slug, function="identity_text", paused=True)
        cluster.worker("default")

        async def scenario() -> None:
            nonlocal server
            url, origin = f"ws://{site}/ws/queue/", f"http://{site}"
            first = Visitor(await websockets.connect(url, origin=origin))
            await first.send(msg="join", demo=slug, data=["kept"], ref="a")
            job = (await first.until("joined"))["job"]
            await first.until("estimation", job=job, rank=0)

            server.send_signal(signal.SIGKILL)  # a crash: no chance to save anything more
            server.wait()
            second = Visitor(await websockets.connect(url, origin=origin))
            await second.send(msg="join", demo=slug, data=["refused"], ref="b")
            refusal = await second.until("error", ref="b")
            assert refusal["code"] == "unavailable"
            ready = await asyncio.to_thread(requests.get, f"http://{site}/readyz", timeout=30)
            assert ready.status_code == 503
            script = await asyncio.to_thread(
                requests.post,
                f"http://{site}/api/v1/demos/{slug}/jobs/",
                json={"data": ["refused"]},
                timeout=30,
            )
            assert script.status_code == 503
            assert script.json()["error"]["code"] == "unavailable"
            await first.send(msg="ping")
            await first.until("pong")  # sockets stay open

            server = embedded_redis.start(port, redis_dir)  # loads its append-only file
            await asyncio.to_thread(manage_shell, cluster, resume_code(slug))
            ending = await first.until("process_completed", job=job)
            assert ending["output"]["data"] == ["kept"]
            await second.send(msg="join", demo=slug, data=["welcome"], ref="c")
            joined = await second.until("joined", ref="c")
            assert (await second.until("process_completed", job=joined["job"]))["success"]
            assert [f["msg"] for f in first.frames].count("process_completed") == 1
            for visitor in (first, second):
                await visitor.socket.close()

        asyncio.run(scenario())
    finally:
        cluster.stop()
        server.kill()
        server.wait()
