"""Counting a process's round trips to Redis."""

from contextlib import contextmanager

from redis.connection import AbstractConnection


@contextmanager
def counted_round_trips():
    """Each time a connection sends Redis a request (one command, or a whole pipeline)."""
    sent = []
    send = AbstractConnection.send_packed_command

    def counting(connection, *args, **kwargs):
        sent.append(1)
        return send(connection, *args, **kwargs)

    AbstractConnection.send_packed_command = counting
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = send
