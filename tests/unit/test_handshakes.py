"""What daphne's websocket library does for every connection, made cheaper: its debug
message is formatted only when written, and its settings stay on the factory."""

import pprint

from autobahn.websocket import protocol
from daphne.ws_protocol import WebSocketFactory
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from demo_site.handshakes import format_debug_messages_lazily, read_settings_from_the_factory


def test_connection_settings_are_formatted_only_when_a_debug_message_is_written(monkeypatch):
    monkeypatch.setattr(protocol, "pformat", pprint.pformat)  # as the library ships
    format_debug_messages_lazily()
    formatted = []
    monkeypatch.setattr(pprint, "pformat", lambda value: formatted.append(value) or repr(value))
    settings = [("autoPingInterval", 0, "factory"), ("maxFramePayloadSize", 0, "factory")]

    attrs = protocol.pformat(settings)  # what the library does as each connection opens
    assert formatted == []

    assert f"\n{attrs}" == "\n" + repr(settings)  # written, it reads as before
    assert formatted == [settings]


def test_a_connection_reads_its_settings_from_its_factory_rather_than_copying_them():
    read_settings_from_the_factory()
    factory = WebSocketFactory(None, server="lineup")
    factory.setProtocolOptions(openHandshakeTimeout=60, maxFramePayloadSize=4096)
    connection = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))

    connection.makeConnection(StringTransport())  # as daphne's listener does

    assert connection.openHandshakeTimeout == 60
    assert connection.maxFramePayloadSize == 4096
    assert connection.allowNullOrigin == factory.allowNullOrigin
    copied = set(vars(connection)) & set(connection.CONFIG_ATTRS)
    assert copied == set()
