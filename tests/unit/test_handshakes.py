"""The websocket library's per-connection debug message is formatted only when written."""

import pprint

from autobahn.websocket import protocol

from demo_site.handshakes import format_debug_messages_lazily


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
