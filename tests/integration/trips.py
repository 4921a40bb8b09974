"""Counting a process's round trips to Redis."""

from contextlib import contextmanager

from redis.connection import AbstractConnection


@contextmanager
def counted_round_trips(connections: type = AbstractConnection):
    """Each time a connection of this kind (blocking, or redis.asyncio's) sends Redis a
    request (one command, or a whole pipeline)."""
    sent = []
    send = connections.send_packed_command

    def counting(connection, *args, **kwargs):
        sent.append(1)
        return send(connection, *args, **kwargs)  # an async connection's caller awaits it

    connections.send_packed_command = counting
    try:
        yield sent
    finally:
        connections.send_packed_command = send
