"""ASGI entry point: HTTP goes to Django, the queue's websocket to its consumer.

A websocket's way in is kept light, as a burst of arriving visitors all pass through it: the
origin check and the session's key from its cookie, nothing that reaches the database; and
what every visitor needs once per process is prepared as the process starts."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
django_asgi_app = get_asgi_application()

from urllib.parse import urlparse  # noqa: E402

from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier  # noqa: E402

from queueapp.consumers import QueueConsumer  # noqa: E402
from queueapp.startup import prepare_web_process  # noqa: E402

from .handshakes import format_debug_messages_lazily, read_settings_from_the_factory  # noqa: E402

QUEUE_SOCKET_PATH = "/ws/queue/"
_origins = AllowedHostsOriginValidator(None)  # Channels' check of an Origin against ALLOWED_HOSTS


def application(scope, receive, send):
    """A plain function that returns the connection's own coroutine, so that the way in
    keeps nothing for as long as a socket stays open: Channels' routers and origin check
    are coroutines each, that wait as long as the socket is open, with a copy of its scope
    (about 2 KB a socket)."""
    if scope["type"] == "http":
        return django_asgi_app(scope, receive, send)
    if scope["type"] != "websocket":
        raise ValueError(f"no application for {scope['type']!r} connections")
    if scope["path"] == QUEUE_SOCKET_PATH and _origins.valid_origin(_origin(scope)):
        return QueueConsumer()(scope, receive, send)
    return WebsocketDenier()(scope, receive, send)  # closed before it opens: HTTP 403


# An ASGI 3 application, though not a coroutine function itself (servers check which).
application._asgi_single_callable = True


def _origin(scope):
    for name, value in scope["headers"]:
        if name == b"origin":
            try:
                return urlparse(value.decode("latin1"))
            except UnicodeDecodeError:
                return None
    return None


prepare_web_process()
format_debug_messages_lazily()
read_settings_from_the_factory()

# A web process holds thousands of long-lived objects per thousand open websockets. With
# Python's default thresholds the collector walks them all, again and again, while a crowd
# arrives: at 10,000 sockets it took half of the process's CPU. Collect the young generation
# far less often, and leave the objects of start-up (Django, the app) out of every collection.
gc.set_threshold(50_000, 20, 100)
gc.freeze()
