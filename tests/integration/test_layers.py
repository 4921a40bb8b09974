"""The channel layer: one Redis subscription per process carries all of its consumers'
channels; named channels keep their own, and groups."""

import asyncio

from django.conf import settings

from queueapp.layers import Mailbox, ProcessChannelLayer
from queueapp.store import get_store


def layer() -> ProcessChannelLayer:
    """A process's layer (each instance has its own inbox, as each process does)."""
    return ProcessChannelLayer(hosts=[{"address": settings.REDIS_URL}], prefix="lineup:test:")


async def subscribed(channel: str) -> None:
    """Until Redis has the subscription (the SUBSCRIBE is sent, not confirmed, on return)."""
    async with asyncio.timeout(10):
        while not get_store().redis.pubsub_numsub(channel)[0][1]:
            await asyncio.sleep(0.01)


async def after_one_left(web, worker, gone: str, staying: str, *, n: int) -> tuple[dict, bool]:
    """Message `n` goes to a consumer that left, `n + 1` to one that stays: what the one that
    stays receives, and whether the layer still keeps a mailbox for the one that left."""
    await worker.send(gone, {"type": "job.event", "n": n})
    await worker.send(staying, {"type": "job.event", "n": n + 1})
    got = await asyncio.wait_for(web.receive(staying), timeout=10)
    left_behind = gone in web._get_layer().local
    await web.flush()
    await worker.flush()
    return got, left_behind


def test_consumers_of_one_process_share_its_inbox_and_get_only_their_own_messages():
    async def scenario():
        web, worker = layer(), layer()
        first, second = await web.new_channel(), await web.new_channel()
        inbox = web._get_layer().inbox
        assert first.startswith(f"{inbox}!") and second.startswith(f"{inbox}!")
        await subscribed(inbox)
        await worker.send(second, {"type": "job.event", "n": 2})
        await worker.send(first, {"type": "job.event", "n": 1})
        got = await asyncio.wait_for(
            asyncio.gather(web.receive(first), web.receive(second)), timeout=10
        )
        await web.flush()
        await worker.flush()
        return got

    assert asyncio.run(scenario()) == [{"type": "job.event", "n": 1}, {"type": "job.event", "n": 2}]


def test_a_message_for_a_consumer_that_left_is_dropped_and_the_others_still_arrive():
    async def scenario():
        web, worker = layer(), layer()
        gone, staying = await web.new_channel(), await web.new_channel()
        await subscribed(web._get_layer().inbox)
        leaving = asyncio.ensure_future(web.receive(gone))
        await asyncio.sleep(0)
        leaving.cancel()  # the consumer left (Channels cancels its receive)
        return await after_one_left(web, worker, gone, staying, n=1)

    assert asyncio.run(scenario()) == ({"type": "job.event", "n": 2}, False)


def test_a_listening_consumer_is_called_as_its_messages_arrive_and_takes_them_in_order():
    async def scenario():
        web, worker = layer(), layer()
        channel, other = await web.new_channel(), await web.new_channel()
        calls = asyncio.Queue()
        mailbox = web.listen(channel, lambda: calls.put_nowait("arrived"))
        await subscribed(web._get_layer().inbox)
        for n in (1, 2, 3):
            await worker.send(channel, {"type": "job.event", "n": n})
        for _ in range(3):
            await asyncio.wait_for(calls.get(), timeout=10)
        taken = [mailbox.take() for _ in range(4)]
        web.forget(channel)  # the consumer left: what still comes for it is dropped
        after, kept = await after_one_left(web, worker, channel, other, n=4)
        return taken, after, kept, calls.qsize()

    taken, after, kept, more_calls = asyncio.run(scenario())
    assert taken == [{"type": "job.event", "n": n} for n in (1, 2, 3)] + [None]
    assert (after, kept, more_calls) == ({"type": "job.event", "n": 5}, False, 0)


def test_a_named_channel_joins_groups():
    async def scenario():
        web, worker = layer(), layer()
        hub = await web.new_channel("lineup.hub.")
        assert "!" not in hub
        await web.group_add("lineup.demo.t", hub)
        await subscribed("lineup:test:__group__lineup.demo.t")
        await worker.group_send("lineup.demo.t", {"type": "queue.advanced", "seq": 1})
        got = await asyncio.wait_for(web.receive(hub), timeout=10)
        await web.flush()
        await worker.flush()
        return got

    assert asyncio.run(scenario()) == {"type": "queue.advanced", "seq": 1}


def test_a_mailbox_hands_messages_over_in_order_whether_its_reader_waits_or_not():
    async def scenario():
        mailbox = Mailbox()
        mailbox.put({"n": 1})
        mailbox.put({"n": 2})
        early = [await mailbox.get(), await mailbox.get()]
        waiting = asyncio.ensure_future(mailbox.get())
        await asyncio.sleep(0)  # the reader now waits
        mailbox.put({"n": 3})
        mailbox.put({"n": 4})
        late = [await waiting, await mailbox.get()]
        cancelled = asyncio.ensure_future(mailbox.get())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        mailbox.put({"n": 5})  # kept for the next reader, not lost with the cancelled one
        return early, late, await mailbox.get()

    early, late, kept = asyncio.run(scenario())
    assert early == [{"n": 1}, {"n": 2}]
    assert late == [{"n": 3}, {"n": 4}]
    assert kept == {"n": 5}
