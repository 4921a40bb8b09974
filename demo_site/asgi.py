"""ASGI entry point: HTTP goes to Django, websockets to the queue consumer.

A websocket's way in is kept light, as a burst of arriving visitors all pass through it: the
origin check and the session's key from its cookie, nothing that reaches the database; and
what every visitor needs once per process is prepared as the process starts."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from queueapp.routing import websocket_urlpatterns  # noqa: E402
from queueapp.startup import prepare_web_process  # noqa: E402

from .handshakes import format_debug_messages_lazily, read_settings_from_the_factory  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
prepare_web_process()
format_debug_messages_lazily()
read_settings_from_the_factory()

# A web process holds thousands of long-lived objects per thousand open websockets. With
# Python's default thresholds the collector walks them all, again and again, while a crowd
# arrives: at 10,000 sockets it took half of the process's CPU. Collect the young generation
# far less often, and leave the objects of start-up (Django, the app) out of every collection.
gc.set_threshold(50_000, 20, 100)
gc.freeze()
