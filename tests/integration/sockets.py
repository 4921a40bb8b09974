"""A queue socket in the test's own event loop, through the consumer's way in."""

from channels.testing import WebsocketCommunicator

from queueapp.consumers import QueueConsumer


async def open_socket() -> WebsocketCommunicator:
    """A connected socket whose hello has been read."""
    socket = WebsocketCommunicator(QueueConsumer.as_asgi(), "/ws/queue/")
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["msg"] == "hello"
    return socket
