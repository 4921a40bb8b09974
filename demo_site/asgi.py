"""ASGI entry point: HTTP goes to Django, websockets to the queue consumer.

A websocket's way in is kept light, as a burst of arriving visitors all pass through it: the
origin check and the session's key from its cookie, nothing that reaches the database."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from queueapp.access import SessionKeyMiddleware  # noqa: E402
from queueapp.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            SessionKeyMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)
