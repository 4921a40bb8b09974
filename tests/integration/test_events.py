"""What a worker sends goes out together: one round trip to Redis carries the frames of a
batch's sockets and its broadcast, each socket gets its frames in order, and a frame that
cannot be encoded fails alone. A draining slot tells one batch's outcomes and the next one's
start in one send."""

import asyncio
from concurrent.futures import Future

import pytest
from channels.layers import get_channel_layer

from queueapp import events, frames, layers, worker
from queueapp.store import get_store, key, scripts

from .sockets import open_socket
from .trips import counted_round_trips


@pytest.fixture
def published(monkeypatch) -> list[int]:
    """How many messages each pipeline of publishes carried, in order."""
    counts: list[int] = []
    publish_together = layers.publish_together

    async def counted(shard, encoded):
        counts.append(len(encoded))
        await publish_together(shard, encoded)

    monkeypatch.setattr(layers, "publish_together", counted)
    return counts


def test_a_batchs_frames_and_broadcast_go_out_in_one_round_trip_and_in_order(published):

    async def scenario() -> tuple[set[str], list[dict], list[dict]]:
        first, second = await open_socket(), await open_socket()
        one, two = list(get_channel_layer()._get_layer().local)
        broken = frames.progress("broken", {"index": object()})  # no serializer takes it
        failed = await events.send_all(
            [
                (one, frames.process_starts("a")),
                (two, frames.process_starts("b")),
                (one, broken),
                (one, frames.completed("a", success=True, payload=["A"])),
                (two, frames.completed("b", success=True, payload=[object()])),
            ],
            [(events.SENDER_CHECK_GROUP, {"type": "sender.check"})],
        )
        await events.send_all(
            [(one, frames.process_starts("end")), (two, frames.process_starts("end"))]
        )
        told = []
        for socket in (first, second):
            found = []
            while not found or found[-1]["job"] != "end":
                found.append(await socket.receive_json_from(timeout=30))
            told.append(found[:-1])
            await socket.disconnect()
        return failed, *told

    failed, to_first, to_second = asyncio.run(scenario())
    assert published[0] == 5  # four frames and the broadcast, one pipeline
    assert failed == {"broken"}
    first_told = [(frame["msg"], frame["job"]) for frame in to_first]
    assert first_told == [("process_starts", "a"), ("process_completed", "a")]
    assert to_first[1]["output"]["data"] == ["A"]
    # An outcome the layer cannot carry is replaced by an error its visitor can read.
    assert [f["msg"] for f in to_second] == ["process_starts", "process_completed"]
    assert to_second[1]["success"] is False
    assert to_second[1]["error"] == events.UNSENDABLE


def test_a_draining_slot_sends_once_a_batch(monkeypatch, settings, slug, publish, published):
    settings.LINEUP_WORKER_LINGER_SECONDS = 0  # the slot goes when the line is empty
    publish(function="identity_text")  # one job per batch
    # Each send is done before the worker goes on, so that each clears its endings from the
    # outbox in turn, whatever the speed of the sender's thread.
    send_all_soon = events.send_all_soon

    def sent_at_once(direct, broadcasts=()) -> Future:
        done = Future()
        done.set_result(send_all_soon(direct, broadcasts).result())
        return done

    monkeypatch.setattr(events, "send_all_soon", sent_at_once)
    store = get_store()
    for name in ("take_batch", "finish_batch"):  # loaded, as a running site has them
        store.redis.script_load(scripts.source(name))

    async def scenario() -> tuple[list[int], list[dict]]:
        socket = await open_socket()
        (channel,) = get_channel_layer()._get_layer().local
        for i in range(5):
            store.join(slug, job_id=f"j{i}", owner=f"o{i}", channel=channel, inputs=[f"v{i}"])
        with counted_round_trips() as counted_trips:
            assert await asyncio.to_thread(worker.drain_demo, slug) == 5
        told = []
        while len(told) < 10:
            told.append(await socket.receive_json_from(timeout=30))
        await socket.disconnect()
        return counted_trips, told

    counted_trips, told = asyncio.run(scenario())
    assert [(frame["msg"], frame["job"]) for frame in told] == [
        (msg, f"j{i}") for i in range(5) for msg in ("process_starts", "process_completed")
    ]
    # The first start and the broadcast; then each outcome with the next start and broadcast.
    assert published == [2, 3, 3, 3, 3, 1]
    # Reading the head and the first take; one step per batch (finishing it, taking the
    # next); and each send's endings cleared from the outbox once it is done.
    assert len(counted_trips) == 2 + 5 + 5
    assert store.redis.zcard(key(slug, "outbox")) == 0
