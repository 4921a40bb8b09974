"""A cost daphne's websocket library pays for every connection, and Lineup's web process
does not.

autobahn formats its protocol's settings for a debug message as each connection opens (a
pretty-printed list of some forty settings), whether or not debug messages are logged: in
a profile of a burst of arrivals it was 8 % of a Lineup process's CPU and 14 % of a bare
ASGI app's. Here the formatting waits until a message is actually written.
"""

import pprint

from autobahn.websocket import protocol


class _FormattedWhenWritten:
    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def format_debug_messages_lazily() -> None:
    if getattr(protocol, "pformat", None) is pprint.pformat:
        protocol.pformat = _FormattedWhenWritten
