"""What a worker sends goes out together: one round trip to Redis carries the frames of a
batch's sockets and its broadcast, each socket gets its frames in order, and a frame that
cannot be encoded fails alone."""

import asyncio

from channels.layers import get_channel_layer

from queueapp import events, frames, layers

from .sockets import open_socket


def test_a_batchs_frames_and_broadcast_go_out_in_one_round_trip_and_in_order(monkeypatch):
    published: list[int] = []
    publish_together = layers.publish_together

    async def counted(shard, encoded):
        published.append(len(encoded))
        await publish_together(shard, encoded)

    monkeypatch.setattr(layers, "publish_together", counted)

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
