"""The consumer's own loop: one message at a time, whether it comes from the socket or from
the channel layer, and a message it cannot handle ends the socket rather than its mail."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from queueapp import events, frames
from queueapp.services import jobs

from .sockets import open_socket


async def until(condition, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_a_message_that_arrives_while_a_join_is_admitted_is_sent_after_its_answers(
    slug, publish, monkeypatch
):
    publish()
    submit = jobs.job_submit
    channels: list[str] = []
    admit = asyncio.Event()

    async def held_submit(**kwargs):
        channels.append(kwargs["channel"])
        await admit.wait()
        return await submit(**kwargs)

    monkeypatch.setattr(jobs, "job_submit", held_submit)

    async def scenario() -> list[str]:
        socket = await open_socket()
        await socket.send_json_to({"msg": "join", "demo": slug, "data": ["hi"]})
        await until(lambda: channels)
        # A worker's frame reaches the socket's channel while its join is still admitted.
        mailbox = get_channel_layer()._get_layer().local[channels[0]]
        await events.send_all([(channels[0], frames.process_starts("another-job"))])
        await until(lambda: mailbox.reader is None and not mailbox.messages)  # taken
        admit.set()
        told = []
        while "process_starts" not in told:
            told.append((await socket.receive_json_from(timeout=30))["msg"])
        await socket.disconnect()
        return [kind for kind in told if kind != "notice"]  # the line has no worker

    assert asyncio.run(scenario()) == ["joined", "estimation", "process_starts"]


def test_a_channel_message_the_consumer_cannot_handle_ends_the_socket(slug, publish):
    publish()

    async def scenario() -> None:
        socket = await open_socket()
        await socket.send_json_to({"msg": "ping"})
        assert (await socket.receive_json_from(timeout=30))["msg"] == "pong"
        channel = next(iter(get_channel_layer()._get_layer().local))
        await get_channel_layer().send(channel, {"type": "no.such.handler"})
        await until(socket.future.done)  # the consumer ended
        with pytest.raises(ValueError, match="No handler"):
            socket.future.result()

    asyncio.run(scenario())
