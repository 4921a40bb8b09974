"""Each ending reaches a socket once, whichever way it comes; a job that Redis lost is told
so; an ending no frame can carry is replaced by an error, not left undelivered."""

import asyncio
import time

import pytest
from channels.testing import WebsocketCommunicator

import tests.support.functions  # noqa: F401  (registers unsendable_text here too)
from queueapp import events, frames
from queueapp.positions import get_hub
from queueapp.services import jobs
from queueapp.store import Ending, get_store
from queueapp.store.keys import line_prefix

from .cluster import Cluster, wait_until_delivered
from .sockets import open_socket


async def next_frame(socket: WebsocketCommunicator, kind: str, timeout: float = 30) -> dict:
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        if frame["msg"] == kind:
            return frame


async def join(socket: WebsocketCommunicator, slug: str, text: str) -> str:
    await socket.send_json_to({"msg": "join", "demo": slug, "data": [text]})
    return (await next_frame(socket, "joined"))["job"]


async def frames_until_quiet(socket: WebsocketCommunicator) -> list[dict]:
    found = []
    while not await socket.receive_nothing(timeout=1):
        found.append(await socket.receive_json_from())
    return found


def test_an_ending_that_arrives_while_the_hub_fetches_it_reaches_the_socket_once(
    slug, publish, monkeypatch
):
    publish()

    async def scenario() -> list[dict]:
        socket = await open_socket()
        job_id = await join(socket, slug, "hi")
        hub = await get_hub()
        consumer = hub.waiter(slug, job_id).follower
        # A worker takes the job and records its ending; its frame is still on the way.
        store = get_store()
        assert [job.id for job in store.take_batch(slug, slot="w").jobs] == [job_id]
        store.finish_batch(
            slug, slot="w", endings=[Ending(job_id, "completed", ["hi"])], duration=0.01
        )
        resume = jobs.job_resume

        def resume_while_the_frame_arrives(**kwargs):
            resumed = resume(**kwargs)
            ending = frames.ending(job_id, "completed", ["hi"], None)
            events.send_all_sync([(consumer.channel_name, ending)])
            deadline = time.monotonic() + 30
            while job_id not in consumer.finished:  # the socket has forwarded the frame
                assert time.monotonic() < deadline
                time.sleep(0.01)
            return resumed

        monkeypatch.setattr(jobs, "job_resume", resume_while_the_frame_arrives)
        await hub.resync()  # finds the job ended without word of it
        told = await frames_until_quiet(socket)
        await socket.disconnect()
        return told

    told = asyncio.run(scenario())
    endings = [frame for frame in told if frame["msg"] == "process_completed"]
    assert len(endings) == 1 and endings[0]["output"]["data"] == ["hi"]


def test_a_job_that_redis_lost_is_told_lost(slug, publish):
    publish()

    async def scenario() -> dict:
        socket = await open_socket()
        job_id = await join(socket, slug, "hi")
        # Redis came back empty (no persistence): the line and the job are gone.
        redis = get_store().redis
        redis.delete(*redis.keys(line_prefix(slug) + "*"))
        await (await get_hub()).resync()
        ending = await next_frame(socket, "process_completed")
        assert ending["job"] == job_id
        await socket.disconnect()
        return ending

    ending = asyncio.run(scenario())
    assert ending["success"] is False and ending["error"]["code"] == "lost"


@pytest.mark.stack
def test_an_ending_no_frame_can_carry_is_told_as_an_error(tmp_path, slug, publish):
    publish(function="unsendable_text", worker_pool=slug)
    cluster = Cluster(tmp_path)
    try:
        cluster.worker(slug)

        async def scenario() -> dict:
            socket = await open_socket()
            await join(socket, slug, "hi")
            ending = await next_frame(socket, "process_completed", timeout=60)
            await socket.disconnect()
            return ending

        ending = asyncio.run(scenario())
        assert ending["success"] is False
        assert ending["error"]["code"] == "unsendable_output"
        wait_until_delivered(slug, timeout=30)  # nothing left for the sweep to choke on
    finally:
        cluster.stop()
