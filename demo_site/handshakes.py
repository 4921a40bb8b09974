"""Two costs daphne's websocket library pays for every connection, and Lineup's web process
does not.

- autobahn formats its protocol's settings for a debug message as each connection opens (a
  pretty-printed list of some forty settings), whether or not debug messages are logged: in
  a profile of a burst of arrivals it was 8 % of a Lineup process's CPU and 14 % of a bare
  ASGI app's. Here the formatting waits until a message is actually written.
- It also copies those settings from the factory, where daphne sets them once for the
  process, into every connection's own attributes: about 1.7 KB of memory per open socket.
  Here a connection reads them from its factory instead.
"""

import operator
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


def read_settings_from_the_factory() -> None:
    """autobahn copies each setting a connection does not have already; a property that
    reads the factory's value is one it has."""
    from daphne.ws_protocol import WebSocketProtocol

    for name in WebSocketProtocol.CONFIG_ATTRS:
        if not hasattr(WebSocketProtocol, name):
            setattr(WebSocketProtocol, name, property(operator.attrgetter(f"factory.{name}")))
