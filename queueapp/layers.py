"""The channel layer: channels_redis's pub/sub layer, with one subscription per process for
all of its sockets.

In the pub/sub layer every consumer's channel is a Redis subscription of its own: each
arriving visitor costs a SUBSCRIBE (behind one lock, shared with every publish) and each
departing one an UNSUBSCRIBE. Here a process subscribes once, to its inbox; a consumer's
channel is `<inbox>!<id>`, and a message for it travels to the inbox with the channel's name
inside and is handed to the consumer in-process. Channels with a name of their own (the
position hub's) keep their own subscription, and only they may join groups.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close

log = logging.getLogger(__name__)

CONSUMER_PREFIX = "specific."  # what Channels asks for when a consumer starts
ADDRESS = "__to__"  # the field naming a message's channel on its way through an inbox


class ProcessChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            self._layers[loop] = ProcessLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return self._layers[loop]


class ProcessLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.inbox = f"{self.prefix}process.{uuid.uuid4().hex}"
        self.local: dict[str, Mailbox] = {}  # consumer channel -> its messages
        self.opening: asyncio.Future | None = None
        self.delivering: asyncio.Task | None = None

    async def new_channel(self, prefix: str = CONSUMER_PREFIX) -> str:
        if prefix != CONSUMER_PREFIX:
            return await super().new_channel(prefix)
        await self._open_inbox()
        channel = f"{self.inbox}!{uuid.uuid4().hex}"
        self.local[channel] = Mailbox()
        return channel

    async def send(self, channel: str, message: dict) -> None:
        target, data = self.encode(channel, message)
        await self._get_shard(target).publish(target, data)

    def encode(self, channel: str, message: dict) -> tuple[str, bytes]:
        """The Redis channel that carries a message for `channel`, and the message's bytes
        (the serializer's TypeError or ValueError for what it cannot encode)."""
        inbox, local, _ = channel.partition("!")
        if local:
            return inbox, self.channel_layer.serialize({**message, ADDRESS: channel})
        return channel, self.channel_layer.serialize(message)

    def encode_for_group(self, group: str, message: dict) -> tuple[str, bytes]:
        return self._get_group_channel_name(group), self.channel_layer.serialize(message)

    async def publish(self, encoded: list[tuple[str, bytes]]) -> list[bool]:
        """Publish encoded messages in their order, in one round trip to each shard (a
        shard of channels_redis publishes one message per round trip); per message, whether
        its shard took it."""
        by_shard: dict[RedisSingleShardConnection, list[int]] = {}
        for i, (target, _) in enumerate(encoded):
            by_shard.setdefault(self._get_shard(target), []).append(i)
        shards = list(by_shard.items())
        outcomes = await asyncio.gather(
            *(publish_together(shard, [encoded[i] for i in some]) for shard, some in shards),
            return_exceptions=True,
        )
        sent = [True] * len(encoded)
        for (_, some), outcome in zip(shards, outcomes):
            if isinstance(outcome, BaseException):
                log.error("publishing %d messages failed", len(some), exc_info=outcome)
                for i in some:
                    sent[i] = False
        return sent

    def listen(self, channel: str, listener: Callable[[], None]) -> "Mailbox":
        """Call `listener` each time a message for the consumer channel `channel` arrives,
        rather than wait in `receive` for it; the message waits in the mailbox returned. A
        consumer then keeps no task waiting for messages that may never come. Until
        `forget(channel)`."""
        mailbox = self.local.setdefault(channel, Mailbox())
        mailbox.listener = listener
        return mailbox

    def forget(self, channel: str) -> None:
        """The consumer of `channel` has left: drop its messages from now on."""
        self.local.pop(channel, None)

    async def receive(self, channel: str) -> dict:
        if not channel.startswith(f"{self.inbox}!"):
            return await super().receive(channel)
        mailbox = self.local.setdefault(channel, Mailbox())
        try:
            return await mailbox.get()
        except (asyncio.CancelledError, TimeoutError, GeneratorExit):
            # The consumer is leaving (Channels has no call that says so).
            self.local.pop(channel, None)
            raise

    async def flush(self) -> None:
        if self.delivering is not None:
            self.delivering.cancel()
        self.local, self.opening, self.delivering = {}, None, None
        await super().flush()

    async def _open_inbox(self) -> None:
        """Subscribe to this process's inbox, once; every caller waits for the same step."""
        if self.opening is None:
            self.opening = asyncio.ensure_future(self._subscribe_to_channel(self.inbox))
            self.opening.add_done_callback(self._start_delivering)
        try:
            await asyncio.shield(self.opening)
        except Exception:
            self.opening = None  # the next consumer tries again
            raise

    def _start_delivering(self, opening: asyncio.Future) -> None:
        if not opening.cancelled() and opening.exception() is None:
            self.delivering = asyncio.ensure_future(self._deliver())

    async def _deliver(self) -> None:
        """Hand each message that reaches the inbox to its consumer, if it is still here."""
        inbox = self.channels[self.inbox]
        while True:
            data = await inbox.get()
            try:
                message = self.channel_layer.deserialize(data)
                mailbox = self.local.get(message.pop(ADDRESS))
            except Exception:
                log.exception("a message in the inbox could not be read")
                continue
            if mailbox is not None:
                mailbox.put(message)


async def publish_together(
    shard: RedisSingleShardConnection, encoded: list[tuple[str, bytes]]
) -> None:
    """What the shard's `publish` does for one message, for several in one pipeline."""
    async with shard._lock:
        shard._ensure_redis()
        async with shard._redis.pipeline(transaction=False) as pipe:
            for target, data in encoded:
                pipe.publish(target, data)
            await pipe.execute()


class Mailbox:
    """One consumer's messages, for its one reader: what an `asyncio.Queue` does here, in a
    tenth of its memory (a queue is about 3 KB, and a process holds one per open socket).
    The reader waits in `get`, or is called when a message arrives (`listener`) and takes it."""

    __slots__ = ("messages", "reader", "listener")

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.reader: asyncio.Future | None = None
        self.listener: Callable[[], None] | None = None

    def put(self, message: dict) -> None:
        if self.reader is not None and not self.reader.done():
            self.reader.set_result(message)
            self.reader = None
            return
        self.messages.append(message)
        if self.listener is not None:
            self.listener()

    def take(self) -> dict | None:
        """The oldest message, if one waits."""
        return self.messages.pop(0) if self.messages else None

    async def get(self) -> dict:
        if self.messages:
            return self.messages.pop(0)
        reader = self.reader = asyncio.get_running_loop().create_future()
        try:
            return await reader
        except asyncio.CancelledError:
            # Cancelled after a message was handed over but before it was read: keep it.
            if reader.done() and not reader.cancelled():
                self.messages.insert(0, reader.result())
            raise
